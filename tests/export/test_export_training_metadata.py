"""Export reads labels, preset, network widths and the training grid from spine-rt training checkpoints."""

from __future__ import annotations

import pytest

from spine_rt.errors import InputError

pytestmark = pytest.mark.torch

LABELS = {0: "background", 1: "L1", 2: "L2", 3: "L3"}
PREPROCESSING = {"axes": ["I", "P", "R"], "spacing_mm": {"stage1": [2.0, 2.0, 4.4], "stage2": [1.0, 1.0, 4.4]}}


def _training_checkpoint(path, network, preprocessing, labels=LABELS):
    import torch

    from spine_rt.models import build

    overrides = {"num_classes": len(labels)}
    if network == "stage2":
        overrides.update(in_channels=1 + len(labels), patch_size=(32, 32, 4))
    torch.manual_seed(0)
    model = build(network, "tiny", **overrides)
    torch.save({"format": "spine-rt training checkpoint", "state_dict": model.state_dict(),
                "config": {"network": network, "preset": "tiny", "overrides": overrides},
                "labels": {str(k): v for k, v in labels.items()}, "preprocessing": preprocessing}, path)
    return path


def test_package_takes_the_training_grid_labels_and_preset(tmp_path):
    from spine_rt.export import export_package

    stage1 = _training_checkpoint(tmp_path / "s1.pt", "stage1_pair", PREPROCESSING)
    stage2 = _training_checkpoint(tmp_path / "s2.pt", "stage2", PREPROCESSING)
    package = export_package("sshsnet", out=tmp_path / "pkg", checkpoints={"stage1": stage1, "stage2": stage2},
                             precisions="fp32", patch_sizes={"stage1": (64, 64), "stage2": (32, 32, 4)})
    manifest = package.manifest
    assert manifest.labels == LABELS
    assert manifest.stages["stage2"].preset == "tiny"
    assert manifest.stages["stage2"].config["num_classes"] == 4
    assert manifest.preprocessing["spacing_mm"] == PREPROCESSING["spacing_mm"]
    assert manifest.preprocessing["intensity"]["normalization"] == "zscore"  # family default kept


def test_folds_trained_on_different_grids_are_refused(tmp_path):
    from spine_rt.export import export_package

    other = {"axes": ["I", "P", "R"], "spacing_mm": {"stage1": [1.4, 1.4, 4.4], "stage2": [0.7, 0.7, 4.4]}}
    stage1 = _training_checkpoint(tmp_path / "s1.pt", "stage1_pair", PREPROCESSING)
    stage2 = _training_checkpoint(tmp_path / "s2.pt", "stage2", other)
    with pytest.raises(InputError, match="checkpoints disagree on preprocessing"):
        export_package("sshsnet", out=tmp_path / "pkg", checkpoints={"stage1": stage1, "stage2": stage2},
                       precisions="fp32", patch_sizes={"stage1": (64, 64), "stage2": (32, 32, 4)})
    assert not (tmp_path / "pkg").exists()


def test_cli_export_records_the_level_recount_for_spine_mr_only(tmp_path, capsys):
    """``spine-rt export sshsnet --relabel-levels`` writes ``postprocessing.relabel_levels`` (what
    scripts/train_real.sh does); a one-stage X-ray model refuses it before any work."""
    from spine_rt.cli import main
    from spine_rt.model_package import ModelPackage

    stage1 = _training_checkpoint(tmp_path / "s1.pt", "stage1_pair", PREPROCESSING)
    stage2 = _training_checkpoint(tmp_path / "s2.pt", "stage2", PREPROCESSING)
    assert main.main(["export", "sshsnet", "--checkpoint", f"stage1={stage1}", "--checkpoint", f"stage2={stage2}",
                      "--precision", "fp32", "--relabel-levels", "--out", str(tmp_path / "pkg")]) == 0
    assert ModelPackage.open(tmp_path / "pkg").manifest.postprocessing == {"relabel_levels": True}
    assert main.main(["export", "mbnet", "--random-init", "--relabel-levels", "--out", str(tmp_path / "x")]) == 2
    assert "applies to spine MR models, not mbnet" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
