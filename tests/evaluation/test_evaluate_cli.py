"""``spine-rt evaluate``: scoring predictions against truth folders, bad input (exit 2), --min-dice (exit 1),
and running the bundled demo package on phantoms (the product path; onnxruntime, no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from evaluation_cases import AFFINE, LABELS, image_of, shifted_by_one_level, spine_labels, write_case, write_labels_json
from spine_rt.cli.main import main
from spine_rt.pipelines.default_model import default_package_path

#: the demo package names L1..L5 with MRSpineSeg ids 6..2
DEMO_IDS = np.array([0, 6, 5, 4, 3, 2], np.uint8)


@pytest.fixture()
def folders(tmp_path):
    """Two cases in one images+labels folder (mr3d layout), their predictions in the demo package's ids."""
    data, predictions = tmp_path / "data", tmp_path / "predictions"
    for name in ("case_a", "case_b"):
        truth = spine_labels()
        write_case(data, name, image_of(truth), "_image")
        write_case(data, name, truth, "_label")
        write_case(predictions, name, DEMO_IDS[truth], "_image_seg")  # spine-rt infer's naming
    return data, predictions, write_labels_json(tmp_path / "truth_labels.json")


def _evaluate(data, predictions, labels_map, tmp_path, *extra):
    out = tmp_path / "report.json"
    code = main(["evaluate", str(default_package_path()), str(data), str(data), "--predictions", str(predictions),
                 "--labels-map", str(labels_map), "--json", str(out), "--csv", str(tmp_path / "report.csv"), *extra])
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_perfect_predictions_score_one(folders, tmp_path, capsys):
    code, report = _evaluate(*folders, tmp_path)
    assert code == 0
    assert report["mean_dice"] == 1.0
    assert [case["name"] for case in report["cases"]] == ["case_a", "case_b"]
    assert report["per_structure"]["L3"]["dice"] == 1.0 and report["per_structure"]["L3"]["hd95_mm"] == 0.0
    assert report["level_shifted_cases"] == []
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "case,structure,dice,hd95_mm,status,level_shift_onto" and len(rows) == 1 + 2 * 5
    assert "mean Dice 1.0000" in capsys.readouterr().out


def test_a_structure_missing_from_the_truth_is_an_extra_prediction(folders, tmp_path):
    data, predictions, labels_map = folders
    truth = spine_labels()
    truth[truth == 3] = 0
    write_case(data, "case_b", truth, "_label")
    code, report = _evaluate(data, predictions, labels_map, tmp_path)
    assert code == 0
    case_b = report["cases"][1]
    assert case_b["extra"] == ["L3"] and case_b["missing"] == []
    assert case_b["dice"]["L3"] == 0.0 and case_b["hd95_mm"]["L3"] is None
    assert report["per_structure"]["L3"]["extra"] == 1
    assert case_b["mean_dice"] == pytest.approx(0.8)


def test_a_missing_prediction_is_reported(folders, tmp_path):
    data, predictions, labels_map = folders
    prediction = DEMO_IDS[spine_labels()]
    prediction[prediction == 2] = 0  # L5 not found
    write_case(predictions, "case_a", prediction, "_image_seg")
    code, report = _evaluate(data, predictions, labels_map, tmp_path)
    assert code == 0
    assert report["cases"][0]["missing"] == ["L5"]
    assert report["per_structure"]["L5"]["missing"] == 1


def test_a_level_shift_is_detected_and_min_dice_fails(folders, tmp_path, capsys):
    data, predictions, labels_map = folders
    write_case(predictions, "case_a", DEMO_IDS[shifted_by_one_level(spine_labels())], "_image_seg")
    code, report = _evaluate(data, predictions, labels_map, tmp_path, "--min-dice", "0.6")
    assert code == 1
    assert report["level_shifted_cases"] == ["case_a"]
    shifts = report["cases"][0]["level_shifts"]
    assert {(s["predicted"], s["true"]) for s in shifts} == {("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5")}
    captured = capsys.readouterr()
    assert "L2 on true L3" in captured.out
    assert "below --min-dice 0.6" in captured.err
    assert report["mean_dice"] == pytest.approx(0.5)


def _assert_refused(argv, capsys, *words):
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("spine-rt evaluate: error:")
    for word in words:
        assert word in error


def test_an_extra_label_value_is_refused_and_nothing_is_written(folders, tmp_path, capsys):
    data, predictions, labels_map = folders
    truth = spine_labels()
    truth[0:2, 0:2, 0:2] = 9
    write_case(data, "case_b", truth, "_label")
    out = tmp_path / "report.json"
    _assert_refused(["evaluate", str(default_package_path()), str(data), str(data), "--predictions", str(predictions),
                     "--labels-map", str(labels_map), "--json", str(out)], capsys, "case_b_label", "9")
    assert not out.exists()


@pytest.mark.parametrize("change", ["shape", "affine"])
def test_labels_on_another_grid_are_refused(folders, tmp_path, capsys, change):
    data, predictions, labels_map = folders
    truth = spine_labels()
    if change == "shape":
        write_case(data, "case_a", truth[:, :, :9], "_label")
    else:
        affine = AFFINE.copy()
        affine[0, 3] = 2.0
        write_case(data, "case_a", truth, "_label", affine=affine)
    out = tmp_path / "report.json"
    _assert_refused(["evaluate", str(default_package_path()), str(data), str(data), "--predictions", str(predictions),
                     "--labels-map", str(labels_map), "--json", str(out)], capsys,
                    "case_a_label", "shape" if change == "shape" else "grid")
    assert not out.exists()


def test_unpaired_files_and_bad_outputs_are_refused(folders, tmp_path, capsys):
    data, predictions, labels_map = folders
    package = str(default_package_path())
    (data / "case_b_label.nii.gz").unlink()
    _assert_refused(["evaluate", package, str(data), str(data), "--predictions", str(predictions)], capsys,
                    "case_b_image", "no label file")
    _assert_refused(["evaluate", package, str(data), str(data), "--json", str(tmp_path)], capsys, "folder")
    _assert_refused(["evaluate", package, str(data), str(data), "--min-dice", "2"], capsys, "--min-dice")


def test_the_demo_package_through_the_product_path(tmp_path):
    """No --predictions: evaluate runs load_pipeline on each image; its Dice is that of the pipeline's labels."""
    from spine_rt.pipelines import load_pipeline
    from spine_rt.measure.overlap import dice_per_label

    package = default_package_path()
    data, image, truth = _demo_phantom(tmp_path)
    out = tmp_path / "report.json"
    assert main(["evaluate", str(package), str(data), str(data), "--backend", "onnxruntime", "--device", "cpu",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    with load_pipeline(package, backend="onnxruntime", device="cpu") as pipeline:
        labels = pipeline(image).labels
    expected = dice_per_label(labels.astype(np.int64), nib.load(truth).get_fdata().astype(np.int64), 20)
    assert report["cases"][0]["mean_dice"] == pytest.approx(float(np.mean(list(expected.values()))), abs=1e-6)
    assert report["source"]["pipeline"]["backend"] == "onnxruntime"
    assert report["mean_dice"] > 0.5


def _demo_phantom(tmp_path, seed=1000):
    from spine_rt.demo import phantom_spacing_of_package
    from spine_rt.phantoms import spine_mr

    manifest = json.loads((default_package_path() / "manifest.json").read_text())
    phantom = spine_mr(seed, spacing=phantom_spacing_of_package(manifest["preprocessing"]))
    data = tmp_path / "data"
    image = write_case(data, f"p{seed}", phantom.image.astype(np.float32), "_image", affine=phantom.affine)
    labels = write_case(data, f"p{seed}", phantom.labels.astype(np.uint8), "_label", affine=phantom.affine)
    return data, image, labels


def test_verify_with_labels_prints_the_product_path_dice(tmp_path, capsys):
    data, image, labels = _demo_phantom(tmp_path)
    out = tmp_path / "verify.json"
    evaluated = tmp_path / "evaluate.json"
    assert main(["evaluate", str(default_package_path()), str(data), str(data), "--json", str(evaluated)]) == 0
    capsys.readouterr()
    assert main(["verify", str(default_package_path()), "--checkpoint-free", "--backends", "onnxruntime",
                 "--input", str(image), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = json.loads(evaluated.read_text())["cases"][0]["mean_dice"]
    assert f"product path (load_pipeline) on {image}: mean Dice {expected:.4f}" in printed
    assert json.loads(out.read_text())["dice"]["mean_dice"] == expected


def test_verify_labels_without_input_is_refused(capsys):
    assert main(["verify", str(default_package_path()), "--labels", "x.nii.gz"]) == 2
    assert "--labels needs --input" in capsys.readouterr().err
