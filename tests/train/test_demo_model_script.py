"""``scripts/train_demo_model.py``'s continuation parts: phantoms with a varied field of view written for
``--data``, a package's weights wrapped as ``--init`` checkpoints, and the training arguments they give."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from spine_rt.pipelines.default_model import default_package_path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_demo_model.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_demo_model_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_varied_phantoms_are_written_in_seed_order_as_spine_mr_draws_them(script, tmp_path):
    import nibabel as nib

    from spine_rt.phantoms import spine_mr

    folder = script.write_phantoms(tmp_path / "phantoms", 2, 40.0)
    assert sorted(p.name for p in folder.iterdir()) == [
        "phantom_0000_image.nii.gz", "phantom_0000_label.nii.gz",
        "phantom_0001_image.nii.gz", "phantom_0001_label.nii.gz"]
    along_si, along_ap, between = (float(v) for v in script.SPACING_MM.split(","))
    for seed in range(2):
        drawn = spine_mr(seed, spacing=(between, along_si, along_ap), extra_field_mm=40.0)
        image = nib.load(folder / f"phantom_{seed:04d}_image.nii.gz")
        labels = nib.load(folder / f"phantom_{seed:04d}_label.nii.gz")
        assert np.array_equal(np.asarray(labels.dataobj), drawn.labels)
        assert np.allclose(np.asarray(image.dataobj), drawn.image, rtol=1e-5, atol=1e-5)
        assert np.allclose(image.affine, drawn.affine) and np.allclose(labels.affine, drawn.affine)


def test_arguments_read_the_written_phantoms_and_pass_init_and_lr(script, tmp_path):
    data = tmp_path / "phantoms"
    tuning = ["--init", "x.pt", "--lr", "5e-4"]
    one = script.stage_one_arguments(tmp_path / "s1", 1, 80, 50, 64, data, tuning)
    two = script.stage_two_arguments(tmp_path / "s2", tmp_path / "s1" / "best.pt", 1, 80, 12, 80, data, tuning)
    for arguments in (one, two):
        assert "--phantoms" not in arguments and arguments[arguments.index("--data") + 1] == str(data)
        assert arguments[arguments.index("--init") + 1] == "x.pt" and arguments[arguments.index("--lr") + 1] == "5e-4"
    standard = script.stage_one_arguments(tmp_path / "s1", 1, 80, 50)
    assert standard[standard.index("--phantoms") + 1] == str(script.STAGE_ONE_PHANTOMS) and "--init" not in standard


@pytest.mark.torch
def test_package_weights_become_init_checkpoints_with_the_same_network(script, tmp_path):
    import torch

    from spine_rt.model_package import ModelPackage
    from spine_rt.train.checkpoints import network_from_checkpoint, read_training_checkpoint

    package = default_package_path()
    if not (package / "manifest.json").is_file():
        pytest.skip("no bundled demo model in this checkout")
    found = script.package_initial_weights(package, tmp_path / "init")
    assert set(found) == {"stage1", "stage2"}
    manifest = ModelPackage.open(package).manifest
    for stage, checkpoint in found.items():
        loaded = read_training_checkpoint(checkpoint, recipe=stage)
        weights = next(w for w in manifest.stages[stage].weights if w.fold == 0)
        expected = torch.load(package / weights.path, map_location="cpu", weights_only=True)
        state = network_from_checkpoint(loaded).state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[key], expected[key]) for key in expected)
