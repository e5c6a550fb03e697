"""``spine-rt export``: a package from the command line; bad input is exit 2 with one line and no package."""

from __future__ import annotations

import json

import pytest

from spine_rt.cli import main


TINY_XRAY = ["--preset", "tiny", "--patch-size", "64,64"]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["export", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--checkpoint", "--out", "--preset", "--precision", "--labels", "--random-init", "--seed",
                   "--overwrite", "--patch-size"):
        assert option in out


@pytest.mark.torch
def test_export_random_init_writes_a_package(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "pkg"
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(["background", "vertebra", "sacrum"]))
    code = main.main(["export", "bilunet", "--random-init", "--seed", "3", "--out", str(out),
                      "--precision", "fp32,fp16", "--labels", str(labels), *TINY_XRAY])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "xray fold0 fp16: onnxruntime vs torch relative error" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "bilunet" and manifest["labels"] == {"0": "background", "1": "vertebra",
                                                                        "2": "sacrum"}
    assert manifest["stages"]["xray"]["config"]["num_classes"] == 3
    assert {g["precision"] for g in manifest["stages"]["xray"]["graphs"]} == {"fp32", "fp16"}
    assert main.main(["export", "bilunet", "--random-init", "--out", str(out), *TINY_XRAY]) == 2
    assert "already exists; pass --overwrite" in _error_line(capsys)


@pytest.mark.torch
def test_export_from_checkpoints(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from spine_rt.models import build

    checkpoint = tmp_path / "bilunet.pt"
    torch.save({"model": build("bilunet", "tiny").state_dict()}, checkpoint)
    out = tmp_path / "pkg"
    assert main.main(["export", "bilunet", "--checkpoint", str(checkpoint), "--out", str(out),
                      "--precision", "fp32", *TINY_XRAY]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["provenance"]["checkpoints"]["xray"][0]["file"] == "bilunet.pt"
    assert [g["precision"] for g in manifest["stages"]["xray"]["graphs"]] == ["fp32"]


@pytest.mark.torch
@pytest.mark.parametrize("arguments, message", [
    (["unet", "--random-init"], "unknown model 'unet'; valid models: sshsnet, mbnet, bilunet"),
    (["sshsnet", "--checkpoint", "S1.pt"], "write STAGE=PATH with STAGE one of stage1, stage2"),
    (["sshsnet", "--checkpoint", "stage9=S1.pt"], "sshsnet has no stage 'stage9'; its stages: stage1, stage2"),
    (["bilunet", "--checkpoint", "missing.pt"], "checkpoint not found"),
    (["bilunet"], "no checkpoints given"),
    (["bilunet", "--random-init", "--precision", "int8"], "valid precisions: fp32, fp16"),
    (["sshsnet", "--random-init", "--patch-size", "64,64"], "write STAGE=SIZES"),
    (["bilunet", "--random-init", "--patch-size", "a,b"], "sizes must be integers"),
    (["bilunet", "--random-init", "--labels", "missing.json"], "labels file not found"),
])
@pytest.mark.torch
def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys, monkeypatch, arguments, message):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    code = main.main(["export", *arguments, "--out", "pkg"])
    assert code == 2
    line = _error_line(capsys)
    assert line.startswith("spine-rt export: error: ") and message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.torch
def test_wrong_architecture_checkpoint_names_the_keys(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from spine_rt.models import build

    checkpoint = tmp_path / "mbnet.pt"
    torch.save(build("mbnet", "tiny", image_size=(64, 64)).state_dict(), checkpoint)
    code = main.main(["export", "sshsnet", "--checkpoint", f"stage1={checkpoint}", "--checkpoint",
                      f"stage2={checkpoint}", "--preset", "tiny", "--out", str(tmp_path / "pkg")])
    assert code == 2
    line = _error_line(capsys)
    assert "does not fit StageOnePair" in line and "missing (branch1." in line and "unexpected (segmentation." in line
    assert not (tmp_path / "pkg").exists()
