"""``spine-rt verify``: exit 0 on a good package, 1 on a swapped graph, 2 on a broken one."""

from __future__ import annotations

import json

import pytest

from spine_rt.cli import main



@pytest.fixture(scope="module")
def xray_package(tmp_path_factory):
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    out = tmp_path_factory.mktemp("verify") / "pkg"
    export_package("mbnet", out=out, preset="tiny", random_init=True, patch_sizes={"xray": (64, 64)})
    return out


def _copy(package, tmp_path):
    import shutil

    target = tmp_path / "pkg"
    shutil.copytree(package, target)
    return target


def _swap_weights(root, relative):
    """Replace ``relative`` by a graph with other weights and fix its sha256 in the manifest."""
    onnx = pytest.importorskip("onnx")
    from spine_rt.model_package import sha256_file

    path = root / relative
    model = onnx.load(str(path))
    for tensor in model.graph.initializer:
        array = onnx.numpy_helper.to_array(tensor)
        if array.ndim == 4:  # every conv weight
            tensor.CopyFrom(onnx.numpy_helper.from_array((array * 1.3).astype(array.dtype), tensor.name))
    onnx.save(model, str(path))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"][relative] = sha256_file(path)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["verify", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--input", "--backends", "--checkpoint-free", "--json"))


@pytest.mark.torch
def test_good_package_exits_0_and_writes_json(xray_package, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert main.main(["verify", str(xray_package), "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert "stage xray, fold 0" in out and "onnxruntime" in out and "result: PASS" in out
    assert "tensorrt: skipped (not installed)" in out or "tensorrt  " in out
    report = json.loads(report_path.read_text())
    assert report["passed"] is True
    assert {(r["backend"], r["precision"]) for r in report["rows"]} >= {("onnxruntime", "fp32"),
                                                                         ("onnxruntime", "fp16"), ("torch", "fp32")}


@pytest.mark.torch
def test_swapped_graph_exits_1(xray_package, tmp_path, capsys):
    root = _copy(xray_package, tmp_path)
    _swap_weights(root, "xray/fold0.fp16.onnx")
    assert main.main(["verify", str(root), "--backends", "onnxruntime"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "result: FAIL" in out


@pytest.mark.torch
def test_modified_or_missing_graph_exits_2(xray_package, tmp_path, capsys):
    root = _copy(xray_package, tmp_path)
    (root / "xray/fold0.fp32.onnx").write_bytes(b"not an onnx file")
    assert main.main(["verify", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match the manifest's sha256" in err
    (root / "xray/fold0.fp32.onnx").unlink()
    assert main.main(["verify", str(root)]) == 2
    assert "listed in the manifest but missing" in capsys.readouterr().err
    assert main.main(["verify", str(tmp_path / "nothing")]) == 2
    assert "not a model package" in capsys.readouterr().err


@pytest.mark.torch
def test_corrupt_graph_with_matching_sha256_exits_2(xray_package, tmp_path, capsys):
    from spine_rt.model_package import sha256_file

    root = _copy(xray_package, tmp_path)
    (root / "xray/fold0.fp32.onnx").write_bytes(b"\x08\x07garbage")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["xray/fold0.fp32.onnx"] = sha256_file(root / "xray/fold0.fp32.onnx")
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert main.main(["verify", str(root), "--backends", "onnxruntime"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot load ONNX model" in err


@pytest.mark.torch
def test_unknown_backend_exits_2(xray_package, capsys):
    assert main.main(["verify", str(xray_package), "--backends", "tflite"]) == 2
    assert "valid backends: tensorrt, onnxruntime, torch, openvino" in capsys.readouterr().err
