"""The demo API on the bundled model: the shipped model works on a phantom it never saw.

The issue's target is a mean Dice >= 0.85 at the demo's default seed; the
bundled model reaches 0.908 there and 0.884 on average over the unseen
phantoms 1000-1009 (docs/demo_model.md). Other unseen phantoms are held to a
lower floor, so a model that only fits the default phantom fails here too.

Runs on the base install (onnxruntime, no torch). Skipped, visibly, when the
demo package is not in the checkout.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from spine_rt.demo import (
    DEFAULT_SEED,
    dice_per_structure,
    phantom_spacing_of_package,
    run_demo,
)
from spine_rt.errors import InputError

#: the target (the shipped model measures 0.908 at seed 1000)
MINIMUM_MEAN_DICE = 0.85
#: unseen phantoms other than the default one, and the floor of their mean Dice (measured 0.844: 0.832, 0.852, 0.848)
OTHER_SEEDS = (1001, 1002, 1003)
MINIMUM_OTHER_MEAN_DICE = 0.80


def _bundled_package_or_skip():
    from spine_rt.pipelines.default_model import default_package_path

    try:
        return default_package_path()
    except InputError:
        pytest.skip("no bundled demo model in this checkout (scripts/train_demo_model.py writes it)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    _bundled_package_or_skip()
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, backend="onnxruntime", device="cpu", seed=DEFAULT_SEED), out


def test_bundled_model_segments_a_phantom_above_its_measured_floor(demo):
    result, _ = demo
    assert len(result.dice) == 19  # every MRSpineSeg structure is in the phantom
    assert result.mean_dice >= MINIMUM_MEAN_DICE, result.dice
    assert result.mean_dice == pytest.approx(np.mean(list(result.dice.values())))


def test_bundled_model_generalises_to_other_unseen_phantoms(tmp_path):
    _bundled_package_or_skip()
    scores = [run_demo(tmp_path / str(seed), backend="onnxruntime", device="cpu", seed=seed).mean_dice
              for seed in OTHER_SEEDS]
    assert np.mean(scores) >= MINIMUM_OTHER_MEAN_DICE, dict(zip(OTHER_SEEDS, scores))


def test_demo_writes_scan_labels_report_and_picture_on_one_grid(demo):
    result, out = demo
    assert {p.name for p in out.iterdir()} == {"scan.nii.gz", "labels.nii.gz", "report.json", "qc.png"}
    scan, labels = nib.load(out / "scan.nii.gz"), nib.load(out / "labels.nii.gz")
    assert scan.shape == labels.shape == result.shape
    np.testing.assert_allclose(labels.affine, scan.affine)
    assert nib.aff2axcodes(scan.affine) == ("R", "I", "P")
    np.testing.assert_allclose(nib.affines.voxel_sizes(scan.affine), result.spacing_mm, rtol=1e-5)
    assert labels.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(labels.dataobj))) <= set(range(20))
    report = json.loads((out / "report.json").read_text())
    assert report["demo"]["mean_dice"] == pytest.approx(result.mean_dice)
    assert report["demo"]["phantom_seed"] == DEFAULT_SEED
    assert "not for clinical use" in report["demo"]["note"]
    assert (out / "qc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_runs_on_the_bundled_packages_grid(demo):
    result, _ = demo
    from spine_rt.model_package import ModelPackage

    manifest = ModelPackage.open(_bundled_package_or_skip()).manifest
    assert result.spacing_mm == pytest.approx(phantom_spacing_of_package(manifest.preprocessing))


def test_dice_per_structure_counts_structures_present_in_the_truth():
    truth = np.zeros((4, 4, 1), np.uint8)
    truth[:2, :2] = 1  # 4 voxels
    truth[2:, 2:] = 2  # 4 voxels
    prediction = np.zeros_like(truth)
    prediction[:2, :1] = 1  # 2 voxels, all right
    prediction[0, 3] = 3  # a label the truth lacks: not scored
    scores = dice_per_structure(prediction, truth, {1: "L5", 2: "L4"})
    assert scores == {"L5": pytest.approx(2 * 2 / (4 + 2)), "L4": 0.0}


def test_phantom_spacing_follows_the_manifests_stage_two_grid():
    preprocessing = {"spacing_mm": {"stage1": [2.4, 2.4, 4.4], "stage2": [1.2, 1.1, 4.4]}}
    assert phantom_spacing_of_package(preprocessing) == (4.4, 1.2, 1.1)
