"""``spine-rt package``: foreign graphs -> package -> ``infer``, ``verify``, ``build-engine --dry-run``; bad graphs exit 2.

The end-to-end graphs are spine-rt's tiny networks exported by torch's
TorchScript exporter under other names (one channels-last, as tf2onnx gives
Keras models); the error cases use ``onnx.helper`` graphs.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PillowImage

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from foreign_onnx_graphs import (  # noqa: E402
    pixel_classifier,
    torch_channels_last_mbnet,
    torch_sshsnet_graphs,
)
from spine_rt.cli import main  # noqa: E402
from spine_rt.phantoms import lumbar_xray, spine_mr  # noqa: E402

MODEL_IN_PLANE_MM = 0.3448


def _left_behind(folder):
    return [path.name for path in folder.iterdir() if path.name == "pkg" or ".partial-" in path.name]


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["package", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--graph", "--spec", "--layout", "--input", "--output", "--labels"))


@pytest.mark.parametrize("case, expected", [
    ("wrong channel count", "'probabilities' has 4 channels on axis 1, expected 5"),
    ("missing output", "output 'inspection_values' (N, 18)"),
    ("dynamic spatial size", "input 'image' has a dynamic size on axis 2, 3"),
    ("corrupt file", "is not a readable ONNX model"),
])
def test_a_bad_graph_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys, case, expected):
    graph, model, extra = tmp_path / "foreign.onnx", "bilunet", []
    if case == "wrong channel count":
        pixel_classifier(graph, classes=4)
    elif case == "missing output":
        pixel_classifier(graph)
        model, extra = "mbnet", ["--output", "segmentation=probs"]
    elif case == "dynamic spatial size":
        pixel_classifier(graph, input_dims=["N", 3, "height", "width"])
    else:
        graph.write_bytes(pixel_classifier(tmp_path / "good.onnx").read_bytes()[:300])
    code = main.main(["package", model, "--graph", str(graph), "--out", str(tmp_path / "pkg"), *extra])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spine-rt package: error: xray fold0:") and expected in lines[0]
    assert _left_behind(tmp_path) == []


def test_usage_errors_exit_2(tmp_path, capsys):
    graph = pixel_classifier(tmp_path / "foreign.onnx")
    for arguments, expected in (
        (["sshsnet", "--graph", str(graph)], "several stages"),
        (["bilunet", "--graph", str(graph), "--input", "image"], "NAME=GRAPH_NAME"),
        (["unet", "--graph", str(graph)], "unknown model"),
        (["bilunet", "--graph", str(graph), "--layout", "sideways"], "unknown layout"),
    ):
        assert main.main(["package", *arguments, "--out", str(tmp_path / "pkg")]) == 2
        assert expected in capsys.readouterr().err
    assert _left_behind(tmp_path) == []


@pytest.fixture(scope="module")
def sshsnet_from_onnx(tmp_path_factory):
    """A tiny SSHSNet exported by torch's TorchScript exporter under other names, packaged by the CLI."""
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("foreign_sshsnet")
    stage_one, stage_two = torch_sshsnet_graphs(folder)
    out = folder / "pkg"
    code = main.main(["package", "sshsnet", "--graph", f"stage1={stage_one}", "--graph", f"stage2={stage_two}",
                      "--input", "stage1:slices=x", "--output", "stage1:probabilities=prob",
                      "--output", "stage1:features=feat", "--input", "stage2:image=mr_and_prob",
                      "--input", "stage2:stage_one_features=s1feat", "--output", "stage2:logits=out",
                      "--out", str(out)])
    assert code == 0
    return out


@pytest.mark.torch
def test_a_foreign_sshsnet_runs_through_infer_verify_and_build_engine(sshsnet_from_onnx, tmp_path, capsys):
    capsys.readouterr()
    manifest = json.loads((sshsnet_from_onnx / "manifest.json").read_text())
    for stage in ("stage1", "stage2"):
        precisions = {r["precision"]: r for r in manifest["provenance"]["parity"] if r["stage"] == stage}
        assert precisions["fp32"]["relative_error"] < 1e-4 and precisions["fp16"]["relative_error"] < 1e-2
    assert [t["name"] for t in manifest["stages"]["stage1"]["outputs"]] == ["probabilities", "features"]

    phantom = spine_mr(0, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= MODEL_IN_PLANE_MM / 2.0
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, affine), scan)
    output = tmp_path / "scan_seg.nii.gz"
    assert main.main(["infer", str(scan), "--model", str(sshsnet_from_onnx), "-o", str(output),
                      "--report", str(tmp_path / "report.json")]) == 0
    written = nib.load(output)
    assert written.shape == phantom.image.shape
    assert set(np.unique(np.asarray(written.dataobj))) <= set(range(20))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] in ("openvino", "onnxruntime")  # auto: a CPU engine, never torch (no weights)

    assert main.main(["verify", str(sshsnet_from_onnx), "--json", str(tmp_path / "verify.json")]) == 0
    out = capsys.readouterr().out
    assert "result: PASS" in out and "no torch weights" in out
    rows = json.loads((tmp_path / "verify.json").read_text())["rows"]
    assert {(r["stage"], r["precision"], r["status"]) for r in rows} >= {
        ("stage1", "fp16", "ok"), ("stage2", "fp16", "ok"), ("stage1", "fp32", "reference")}

    assert main.main(["build-engine", str(sshsnet_from_onnx), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {(e["stage"], e["graph"]) for e in plan["engines"]} == {("stage1", "stage1/fold0.fp16.onnx"),
                                                                 ("stage2", "stage2/fold0.fp16.onnx")}
    # torch cannot run a package without weights: one line, exit 2
    assert main.main(["infer", str(scan), "--model", str(sshsnet_from_onnx), "-o", str(tmp_path / "t.nii.gz"),
                      "--backend", "torch"]) == 2
    assert "no torch weights" in capsys.readouterr().err


@pytest.mark.torch
def test_a_channels_last_mbnet_from_a_spec_runs_through_infer_and_verify(tmp_path, capsys):
    graph = torch_channels_last_mbnet(tmp_path / "mbnet_keras_like.onnx")
    spec = {"model": "mbnet",
            "stages": {"xray": {"graphs": [graph.name], "layout": "channels_last",
                                "inputs": {"image": "input_1"},
                                "outputs": {"segmentation": "seg_softmax", "inspection_values": "dense_3"}}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert main.main(["package", "mbnet", "--spec", str(tmp_path / "spec.json"), "--out", str(tmp_path / "pkg")]) == 0
    out = capsys.readouterr().out
    assert "image<-input_1" in out and "fp16: onnxruntime vs the given graph relative error" in out

    picture = tmp_path / "lateral.png"
    PillowImage.fromarray(lumbar_xray(3, size=(200, 160)).image).save(picture)
    assert main.main(["infer", str(picture), "--model", str(tmp_path / "pkg"), "-o", str(tmp_path / "seg.png"),
                      "--report", str(tmp_path / "report.json")]) == 0
    with PillowImage.open(tmp_path / "seg.png") as labels:
        assert labels.size == (160, 200)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["regressed_values"] is not None and len(report["regressed_values"]["values"]) == 18
    assert main.main(["verify", str(tmp_path / "pkg")]) == 0
    assert "result: PASS" in capsys.readouterr().out
