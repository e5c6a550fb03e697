"""``spine-rt train``: the three recipes end to end, resume, and bad input as one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from spine_rt.cli import main

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

SMALL = ["--preset", "tiny", "--spacing", "3,3,4.4", "--crop", "32,32", "--batch-size", "2", "--no-progress"]


def test_train_help_lists_the_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in ("stage1", "stage2", "mbnet"))


def test_stage1_stage2_and_resume_from_the_command_line(tmp_path, capsys):
    run1 = tmp_path / "stage1"
    assert main.main(["train", "stage1", "--phantoms", "2", "--iterations", "2", "--out", str(run1), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "epoch 1: loss" in out and "validation mean Dice" in out
    assert {p.name for p in run1.iterdir()} >= {"last.pt", "best.pt", "labels.json", "training_log.json"}
    assert len(json.loads((run1 / "labels.json").read_text())) == 20

    assert main.main(["train", "stage1", "--phantoms", "2", "--iterations", "2", "--epochs", "2",
                      "--resume", str(run1 / "last.pt"), "--crop", "32,32", "--batch-size", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2:" in out and "epoch 1:" not in out

    run2 = tmp_path / "stage2"
    assert main.main(["train", "stage2", "--phantoms", "2", "--iterations", "2", "--stage-one", str(run1 / "best.pt"),
                      "--preset", "tiny", "--patch", "32,32,12", "--batch-size", "2", "--no-progress",
                      "--spine-augmentation", "--out", str(run2)]) == 0
    assert "wrote" in capsys.readouterr().out and (run2 / "last.pt").is_file()
    from spine_rt.train.checkpoints import read_training_checkpoint

    settings = read_training_checkpoint(run2 / "last.pt", "stage2")["settings"]
    assert settings["contrast_augmentation"] is True  # recorded, and taken again by a resumed run


def test_mbnet_from_the_command_line(tmp_path, capsys):
    assert main.main(["train", "mbnet", "--phantoms", "2", "--preset", "tiny", "--image-size", "128,128",
                      "--iterations", "2", "--batch-size", "2", "--no-progress", "--out", str(tmp_path)]) == 0
    assert "value_mae" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["stage1", "--data", "/no/such/folder"], "not found"),
    (["stage1"], "either a data folder or a number of phantoms"),
    (["stage1", "--phantoms", "1", "--spacing", "1,1"], "spacing must be"),
    (["stage1", "--phantoms", "1", "--crop", "30,32", "--spacing", "3,3,4.4"], "multiples of 16"),
    (["stage2", "--phantoms", "1"], "--stage-one"),
    (["stage1", "--phantoms", "1", "--resume", "/no/such.pt"], "checkpoint not found"),
])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, arguments, message):
    code = main.main(["train", *arguments, "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
