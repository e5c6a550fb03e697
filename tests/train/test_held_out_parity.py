"""Train/deploy parity: a tiny model trained a few steps on phantoms, exported with no extra flags, scores the same
per-case Dice through ``spine-rt evaluate`` as the recipe's held-out evaluation, and as the trained torch modules
in the training's geometry; export takes the trained window sizes and warns when told otherwise."""

from __future__ import annotations

import json
import logging

import nibabel as nib
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

CROP = (32, 32)
PATCH = (32, 32, 12)
#: the issue's tolerance between the recipe's and the product's per-case Dice
PARITY = 0.005


@pytest.fixture(scope="module")
def trained(phantom_data, tmp_path_factory):
    """``(stage-one best.pt, stage-two best.pt, held-out folder)``: 3 + 3 steps on 2 phantoms, 2 unseen phantoms."""
    import torch

    from spine_rt.train.mr_data import phantom_scans
    from spine_rt.train.stage_one import StageOneRecipe
    from spine_rt.train.stage_two import FrozenStageOne, StageTwoRecipe
    from spine_rt.train.loop import TrainingOptions

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("parity")
    options = TrainingOptions(iterations=3, progress=False)
    first = StageOneRecipe(preset="tiny", crop_size=CROP, batch_size=2).train(phantom_data, root / "stage1", options)
    stage_one = FrozenStageOne.from_checkpoint(first.best_checkpoint)
    second = StageTwoRecipe(preset="tiny", patch_size=PATCH, batch_size=2).train(
        phantom_data, stage_one, root / "stage2", options)
    held_out = root / "held_out"
    held_out.mkdir()
    for scan in phantom_scans(2, seed=50, spacing_mm=phantom_data.preprocessing.spacing_mm):
        nib.save(nib.Nifti1Image(scan.image.array.astype(np.float32), scan.image.affine),
                 held_out / f"{scan.name}_image.nii.gz")
        nib.save(nib.Nifti1Image(scan.labels.array.astype(np.uint8), scan.labels.affine),
                 held_out / f"{scan.name}_label.nii.gz")
    return first.best_checkpoint, second.best_checkpoint, held_out


@pytest.fixture(scope="module")
def documented_package(trained):
    """The documented command: ``spine-rt export sshsnet --checkpoint stage1=.. --checkpoint stage2=.. --out PKG``."""
    from spine_rt.cli.main import main

    stage_one, stage_two, held_out = trained
    package = held_out.parent / "package"
    assert main(["export", "sshsnet", "--checkpoint", f"stage1={stage_one}", "--checkpoint", f"stage2={stage_two}",
                 "--out", str(package)]) == 0
    return package


def test_recipe_evaluation_equals_evaluate_of_the_documented_export(trained, documented_package, tmp_path):
    from spine_rt.cli.main import main
    from spine_rt.model_package import ModelPackage
    from spine_rt.train.checkpoints import evaluate_two_stage

    stage_one, stage_two, held_out = trained
    recipe = evaluate_two_stage(stage_one, stage_two, held_out)
    package = documented_package
    manifest = ModelPackage.open(package).manifest
    assert manifest.stages["stage1"].patch_size == CROP and manifest.stages["stage2"].patch_size == PATCH
    assert manifest.stages["stage1"].preset == "tiny" and manifest.stages["stage2"].preset == "tiny"
    out = tmp_path / "evaluate.json"
    assert main(["evaluate", str(package), str(held_out), str(held_out), "--json", str(out)]) == 0
    product = {case["name"]: case["mean_dice"] for case in json.loads(out.read_text())["cases"]}
    assert set(product) == set(recipe.per_case) == {"phantom_0050", "phantom_0051"}
    for name, value in recipe.per_case.items():
        assert value is not None and product[name] is not None
        assert abs(product[name] - value) <= PARITY, (name, product[name], value)


def test_the_package_scores_what_the_trained_modules_score_in_the_training_geometry(trained, documented_package):
    """The deployed package (onnxruntime) against the trained torch networks run with the training's crop and patch."""
    from spine_rt.evaluation import evaluate_case, evaluate_folder
    from spine_rt.io import read_image
    from spine_rt.pipelines import pipeline_from_modules
    from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
    from spine_rt.train.checkpoints import network_from_checkpoint, read_training_checkpoint

    stage_one, stage_two, held_out = trained
    first = read_training_checkpoint(stage_one, "stage1")
    second = read_training_checkpoint(stage_two, "stage2")
    labels = {int(k): v for k, v in second["labels"].items()}
    modules = pipeline_from_modules(
        network_from_checkpoint(first).eval(), network_from_checkpoint(second).eval(),
        stage_one_patch=tuple(first["settings"]["crop_size"]), labels=labels,
        preprocessing=MrPreprocessing.from_manifest(second["preprocessing"]))
    with modules:
        trained_scores = {}
        for name in ("phantom_0050", "phantom_0051"):
            image = read_image(held_out / f"{name}_image.nii.gz")
            truth = read_image(held_out / f"{name}_label.nii.gz").array
            trained_scores[name] = evaluate_case(name, modules(image).labels, truth, image.affine, labels).mean_dice
    product = evaluate_folder(documented_package, held_out, held_out, backend="onnxruntime", device="cpu").per_case
    for name, value in trained_scores.items():
        assert abs(product[name] - value) <= PARITY, (name, product[name], value)


def test_a_patch_size_or_labels_other_than_the_trained_ones_are_warned_and_recorded(trained, tmp_path, caplog):
    from spine_rt.export import export_package

    stage_one, stage_two, _ = trained
    with caplog.at_level(logging.WARNING, logger="spine_rt.export.package_export"):
        package = export_package("sshsnet", tmp_path / "pkg", {"stage1": stage_one, "stage2": stage_two},
                                 precisions="fp32", patch_sizes={"stage2": (48, 48, 12)},
                                 labels=["background"] + [f"structure {k}" for k in range(1, 20)])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stage stage2: patch size 48,48,12 differs from the 32,32,12" in w for w in warnings), warnings
    assert not any("stage stage1" in w for w in warnings)
    assert any("differ from the labels the checkpoints were trained with" in w for w in warnings), warnings
    assert package.manifest.stages["stage1"].patch_size == CROP
    assert package.manifest.stages["stage2"].patch_size == (48, 48, 12)
    assert package.manifest.provenance["training_patch_sizes"] == {"stage1": list(CROP), "stage2": list(PATCH)}
