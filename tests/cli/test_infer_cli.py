"""``spine-rt infer``: one scan, cohorts (bad cases, skipping, overwriting), X-rays, exit codes, QC pictures.

The spine MR inputs are phantoms drawn at 4.4 x 2 x 2 mm whose affine then
declares 0.3448 mm in-plane (the model's spacing): the tiny random-init
SSHSNet sees a small grid (about 180 x 90 x 12) and a scan runs in about a
second on two cores. Packages are exported once per module (torch).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PillowImage

from spine_rt.cli import main
from spine_rt.errors import InputError
from spine_rt.phantoms import lumbar_xray, spine_mr
from spine_rt.pipelines import default_model
from spine_rt.pipelines.default_model import default_package_path

MODEL_IN_PLANE_MM = 0.3448


def write_mr_scan(path: Path, seed: int) -> Path:
    phantom = spine_mr(seed, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= MODEL_IN_PLANE_MM / 2.0
    nib.save(nib.Nifti1Image(phantom.image, affine), path)
    return path


def write_xray(path: Path, seed: int, size=(200, 160)) -> Path:
    PillowImage.fromarray(lumbar_xray(seed, size=size).image).save(path)
    return path


def write_pixelwise_xray_package(folder: Path, size: int = 64) -> Path:
    """An X-ray package whose graph is a random 1x1 convolution + softmax (onnx only, milliseconds).

    The X-ray pipeline itself runs on exported BiLuNet/MBNet packages in
    ``tests/pipelines/test_xray_pipeline.py``; here only the command around it
    is tested, so the package is built by hand with the manifest classes.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from spine_rt.model_package import MANIFEST_NAME, GraphFile, Manifest, Stage, TensorEntry, sha256_file
    from spine_rt.anatomy.label_tables import XRAY_LABELS

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 4, (5, 3, 1, 1)).astype(np.float32), "weight")
    bias = numpy_helper.from_array(rng.normal(0, 1, 5).astype(np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weight", "bias"], ["scores"]),
         helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1)],
        "pixelwise", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 5, size, size])], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (folder / "xray").mkdir(parents=True)
    relative = "xray/fold0.fp32.onnx"
    onnx.save_model(model, str(folder / relative))
    stage = Stage(network="bilunet", preset="tiny", config={}, patch_size=(size, size),
                  inputs=(TensorEntry("image", (None, 3, size, size)),),
                  outputs=(TensorEntry("probabilities", (None, 5, size, size)),),
                  graphs=(GraphFile(relative, "fp32", 0),))
    manifest = Manifest(task="xray", model="bilunet", labels=dict(XRAY_LABELS),
                        preprocessing={"color": "RGB", "image_size": [size, size], "resize": "bilinear",
                                       "scale": 1 / 255, "offset": 0.0},
                        stages={"xray": stage}, files={relative: sha256_file(folder / relative)})
    (folder / MANIFEST_NAME).write_text(manifest.to_json())
    return folder


@pytest.fixture(scope="module")
def packages(tmp_path_factory, tiny_sshsnet_package):
    root = tmp_path_factory.mktemp("infer_packages")
    return {"mr": str(tiny_sshsnet_package.root), "xray": str(write_pixelwise_xray_package(root / "xray"))}


@pytest.fixture(scope="module")
def xray_package(tmp_path_factory) -> str:
    return str(write_pixelwise_xray_package(tmp_path_factory.mktemp("infer_xray") / "xray"))


@pytest.fixture(scope="module")
def mr_scan(tmp_path_factory) -> Path:
    return write_mr_scan(tmp_path_factory.mktemp("mr_scan") / "scan.nii.gz", 0)


def infer(*arguments: str) -> int:
    return main.main(["infer", *arguments])


@pytest.mark.torch
def test_one_nifti_gives_labels_in_its_geometry_a_report_and_a_qc_picture(packages, mr_scan, tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.chdir(tmp_path)
    code = infer(str(mr_scan), "--model", packages["mr"], "--backend", "onnxruntime", "--device", "cpu",
                 "--report", "scan.json", "--qc", "scan_qc.png")
    assert code == 0
    output = tmp_path / "scan_seg.nii.gz"  # the default: the current folder's <stem>_seg.nii.gz
    written, source = nib.load(output), nib.load(mr_scan)
    assert written.shape == source.shape
    np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)
    assert set(np.unique(np.asarray(written.dataobj))) <= set(range(20))
    report = json.loads((tmp_path / "scan.json").read_text())
    assert report["output"] == str(output) and report["backend"] == "onnxruntime"
    assert report["input"]["shape"] == list(source.shape)
    with PillowImage.open(tmp_path / "scan_qc.png") as picture:
        assert picture.format == "PNG" and picture.size[0] > 300 and picture.size[1] > 300
    out = capsys.readouterr().out
    assert f"wrote {output}" in out and "onnxruntime on cpu" in out

    # the same output again: refused without --overwrite, replaced with it
    assert infer(str(mr_scan), "--model", packages["mr"], "--backend", "onnxruntime") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert infer(str(mr_scan), "--model", packages["mr"], "--backend", "onnxruntime", "--overwrite") == 0


@pytest.mark.torch
def test_a_cohort_with_a_corrupt_scan_runs_the_others_and_exits_2(packages, tmp_path, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    write_mr_scan(scans / "a.nii.gz", 1)
    write_mr_scan(scans / "c.nii.gz", 2)
    (scans / "b.nii.gz").write_bytes(b"this is not a NIfTI file")
    out = tmp_path / "out"
    arguments = [str(scans), "-o", str(out), "--model", packages["mr"], "--backend", "onnxruntime"]
    assert infer(*arguments) == 2
    err = capsys.readouterr().err
    assert "b:" in err and "1 of 3 case(s) failed: b" in err
    assert sorted(p.name for p in out.glob("*_seg.nii.gz")) == ["a_seg.nii.gz", "c_seg.nii.gz"]
    for name in ("a", "c"):
        assert nib.load(out / f"{name}_seg.nii.gz").shape == nib.load(scans / f"{name}.nii.gz").shape
        assert json.loads((out / f"{name}_report.json").read_text())["case"] == name
    rows = {row["case"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert [rows[name]["status"] for name in ("a", "b", "c")] == ["done", "failed", "done"]
    assert rows["b"]["error"] and rows["b"]["output"] == ""

    # finished cases are skipped; the bad one is tried (and reported) again
    assert infer(*arguments) == 2
    capsys.readouterr()
    rows = {row["case"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert [rows[name]["status"] for name in ("a", "b", "c")] == ["skipped (already done)", "failed",
                                                                  "skipped (already done)"]
    assert rows["a"]["structures"] != ""  # taken from the earlier report
    (scans / "b.nii.gz").unlink()
    assert infer(*arguments, "--overwrite") == 0
    rows = {row["case"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert [rows[name]["status"] for name in ("a", "c")] == ["done", "done"]


@pytest.mark.torch
def test_the_input_is_never_overwritten(packages, mr_scan, tmp_path, capsys):
    before = mr_scan.read_bytes()
    assert infer(str(mr_scan), "-o", str(mr_scan), "--model", packages["mr"], "--overwrite") == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err
    assert infer(str(mr_scan), "--report", str(mr_scan), "-o", str(tmp_path / "x.nii.gz"),
                 "--model", packages["mr"], "--overwrite") == 2
    assert mr_scan.read_bytes() == before
    assert infer(str(mr_scan.parent), "-o", str(mr_scan.parent), "--model", packages["mr"]) == 2
    assert "output folder is the input folder" in capsys.readouterr().err


def test_an_xray_and_a_folder_of_xrays(xray_package, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    picture = write_xray(tmp_path / "lateral.png", 3)
    assert infer(str(picture), "--model", xray_package, "--backend", "onnxruntime", "--qc", "qc.png",
                 "--report", "lateral.json") == 0
    with PillowImage.open(tmp_path / "lateral_seg.png") as labels:
        assert labels.size == (160, 200) and set(np.unique(np.asarray(labels))) <= set(range(5))
    with PillowImage.open(tmp_path / "qc.png") as qc:
        assert qc.format == "PNG" and qc.size[1] == 200 and qc.size[0] > 160  # the X-ray, a legend on its right
    report = json.loads((tmp_path / "lateral.json").read_text())
    assert report["task"] == "xray" and set(report["measurements"]["values"]) >= {"PI", "PT", "SS", "LL"}
    out = capsys.readouterr().out
    assert "PI " in out and "wrote" in out

    folder = tmp_path / "xrays"
    folder.mkdir()
    write_xray(folder / "one.png", 4)
    write_xray(folder / "two.jpg", 5)
    (folder / "three.png").write_bytes(b"broken")
    (folder / "notes.txt").write_text("not a picture")
    assert infer(str(folder), "-o", str(tmp_path / "xout"), "--model", xray_package, "--backend",
                 "onnxruntime", "--qc", str(tmp_path / "xqc")) == 2
    assert "three" in capsys.readouterr().err
    rows = {row["case"]: row for row in csv.DictReader((tmp_path / "xout" / "summary.csv").open())}
    assert {name: row["status"] for name, row in rows.items()} == {"one": "done", "three": "failed", "two": "done"}
    assert "PI" in rows["one"] and (tmp_path / "xqc" / "two_qc.png").is_file()


@pytest.mark.torch
def test_wrong_kind_of_input_or_option_for_the_model(packages, mr_scan, tmp_path, capsys):
    picture = write_xray(tmp_path / "x.png", 1)
    assert infer(str(picture), "--model", packages["mr"]) == 2
    assert "spine MR package" in capsys.readouterr().err
    assert infer(str(mr_scan), "--model", packages["xray"]) == 2
    assert "X-ray package" in capsys.readouterr().err
    assert infer(str(picture), "--model", packages["xray"], "--schedule", "reference", "-o",
                 str(tmp_path / "y.png")) == 2
    assert "spine MR options" in capsys.readouterr().err


@pytest.mark.torch
def test_tensorrt_without_tensorrt_is_an_environment_problem(packages, mr_scan, tmp_path, capsys):
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    code = infer(str(mr_scan), "-o", str(tmp_path / "t.nii.gz"), "--model", packages["mr"], "--backend", "tensorrt",
                 "--device", "cuda:0")
    assert code == 3
    assert not (tmp_path / "t.nii.gz").exists()


def test_a_missing_input_is_exit_2(tmp_path, capsys):
    assert infer(str(tmp_path / "missing.nii.gz"), "--model", str(tmp_path)) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_no_model_and_no_demo_model_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(default_model, "DEMO_MODEL_RESOURCE", "no_such_demo_model")
    scan = tmp_path / "scan.nii.gz"
    scan.write_bytes(b"")
    assert infer(str(scan)) == 2
    assert "no --model given and no bundled demo model is installed; pass --model PKG" in capsys.readouterr().err
    with pytest.raises(InputError, match="pass --model PKG"):
        default_package_path()


def test_infer_is_a_listed_command(capsys):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    assert "infer" in capsys.readouterr().out
