"""``scripts/train_real.sh``: bad arguments (exit 2 before any training) and, on two real scans of
../shared/data/mr3d, the whole recipe end to end with a tiny setting (pretraining, fine-tuning, stage two,
export with no options, held-out evaluation). Nothing it trains leaves the test's temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_real.sh"
CROSS_VALIDATION = SCRIPT.with_name("cross_validate_real.sh")
LABELS = {"0": "background", "1": "L1", "2": "L2", "3": "L3", "4": "L4", "5": "L5"}


def _run(*args: str, timeout: int = 1800, script: Path = SCRIPT) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=environment,
                          timeout=timeout)


def _link(folder: Path, data: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        for kind in ("image", "label"):
            (folder / f"{name}_{kind}.nii.gz").symlink_to(data / "mr3d" / f"{name}_{kind}.nii.gz")
    return folder


def _two_scans(shared_data: Path, tmp_path: Path) -> Path:
    """vb3_01 and vb3_02 with labels.json in a training folder (skips without MONAI)."""
    pytest.importorskip("monai")
    data = _link(tmp_path / "data", shared_data, ["vb3_01", "vb3_02"])
    (data / "labels.json").write_text(json.dumps(LABELS))
    return data


def test_bad_arguments_exit_2(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert _run().returncode == 2
    result = _run(str(data), str(tmp_path / "out"))
    assert result.returncode == 2 and "labels.json not found" in result.stderr
    (data / "labels.json").write_text(json.dumps(LABELS))
    result = _run(str(data), str(tmp_path / "out"), "--epochs1", "0")
    assert result.returncode == 2 and "positive integers" in result.stderr
    result = _run(str(data), str(tmp_path / "out"), "--lr-schedule", "cosine")
    assert result.returncode == 2 and "--lr-schedule must be poly or constant" in result.stderr
    result = _run(str(data), str(tmp_path / "out"), "--members", "0")
    assert result.returncode == 2 and "members must be positive integers" in result.stderr
    result = _run(str(data), str(tmp_path / "out"), "--validation-fraction", "1")
    assert result.returncode == 2 and "--validation-fraction must be a number in [0, 1)" in result.stderr
    result = _run(str(data), str(tmp_path / "out"), "--no-such-option", "1")
    assert result.returncode == 2 and "unknown option" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.torch
@pytest.mark.slow
def test_the_recipe_end_to_end_on_two_real_scans(shared_data, tmp_path):
    data = _two_scans(shared_data, tmp_path)
    held_out = _link(tmp_path / "held_out", shared_data, ["vb3_09"])
    out = tmp_path / "out"
    result = _run(str(data), str(out), "--held-out", str(held_out), "--epochs1", "1", "--epochs2", "1",
                  "--iterations", "1", "--pretrain-phantoms", "1", "--pretrain-epochs", "1", "--threads", "1",
                  "--members", "1")  # the default two members: test_two_members_train_side_by_side_...
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "package" / "manifest.json").read_text())
    assert manifest["stages"]["stage1"]["patch_size"] == [112, 112]
    assert manifest["stages"]["stage2"]["patch_size"] == [64, 64, 12]
    assert manifest["labels"] == LABELS
    assert manifest["postprocessing"] == {"relabel_levels": True}  # the recount the cross-validation chose
    assert manifest["preprocessing"]["spacing_mm"]["stage2"] == [1.0, 1.0, 1.0]
    fine_tuned = json.loads((out / "stage1" / "training_log.json").read_text())
    assert fine_tuned["training"]["initial_weights"].endswith("pretrain_stage1/best.pt")
    assert fine_tuned["settings"]["spine_augmentation"] is True
    assert fine_tuned["training"]["lr_schedule"] == "poly"
    report = json.loads((out / "held_out.json").read_text())
    assert [case["name"] for case in report["cases"]] == ["vb3_09"]
    assert (out / "held_out.csv").read_text().startswith("case,structure,dice")
    result = _run(str(data), str(out), "--epochs1", "1")
    assert result.returncode == 2 and "exists" in result.stderr  # no silent overwrite of the package


@pytest.mark.torch
@pytest.mark.slow
def test_two_members_train_side_by_side_into_one_two_fold_package(shared_data, tmp_path):
    data = _two_scans(shared_data, tmp_path)
    out = tmp_path / "out"
    result = _run(str(data), str(out), "--members", "2", "--epochs1", "1", "--epochs2", "1", "--iterations", "1",
                  "--pretrain-phantoms", "0", "--threads", "1", "--seed", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "package" / "manifest.json").read_text())
    for stage in ("stage1", "stage2"):
        assert {graph["fold"] for graph in manifest["stages"][stage]["graphs"] if "fold" in graph} == {0, 1}
    assert manifest["postprocessing"] == {"relabel_levels": True}
    seeds = [json.loads((out / f"member{m}" / "stage1" / "training_log.json").read_text())["training"]["seed"]
             for m in (1, 2)]
    assert seeds == [3, 4]
    assert "member 2 of 2" in result.stdout and (out / "member2" / "log.txt").is_file()


def test_cross_validation_bad_arguments_exit_2(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert _run(script=CROSS_VALIDATION).returncode == 2
    result = _run(str(data), str(tmp_path / "out"), script=CROSS_VALIDATION)
    assert result.returncode == 2 and "labels.json not found" in result.stderr
    (data / "labels.json").write_text(json.dumps(LABELS))
    result = _run(str(data), str(tmp_path / "out"), "--folds", "1", script=CROSS_VALIDATION)
    assert result.returncode == 2 and "--folds must be an integer >= 2" in result.stderr
    result = _run(str(data), str(tmp_path / "out"), script=CROSS_VALIDATION)
    assert result.returncode == 2 and "0 image/label pairs" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.torch
@pytest.mark.slow
def test_cross_validation_rotates_the_held_out_scans_and_summarises(shared_data, tmp_path):
    """Two folds over four real scans with a tiny setting: each fold holds out two scans, every scan is held
    out once, and summary.json lists every case with its fold."""
    pytest.importorskip("monai")
    data = _link(tmp_path / "data", shared_data, ["vb3_01", "vb3_02", "vb3_03", "vb3_04"])
    (data / "labels.json").write_text(json.dumps(LABELS))
    out = tmp_path / "cv"
    result = _run(str(data), str(out), "--folds", "2", "--parallel", "2", "--threads", "1", "--members", "1",
                  "--epochs1", "1", "--epochs2", "1", "--iterations", "1", "--pretrain-phantoms", "0",
                  script=CROSS_VALIDATION)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert sorted(path.name for path in (out / "fold1" / "held").glob("*_image.nii.gz")) == [
        "vb3_01_image.nii.gz", "vb3_02_image.nii.gz"]
    summary = json.loads((out / "summary.json").read_text())
    assert [(case["fold"], case["name"]) for case in summary["cases"]] == [
        (1, "vb3_01"), (1, "vb3_02"), (2, "vb3_03"), (2, "vb3_04")]
    assert summary["mean_dice"] is not None and "4 cases: mean Dice" in result.stdout
