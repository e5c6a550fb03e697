"""verify_package: every available backend against torch FP32, skipped backends, broken packages."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")

from spine_rt.errors import InputError  # noqa: E402
from spine_rt.export import verify_package  # noqa: E402
from spine_rt.model_package import sha256_file  # noqa: E402
from spine_rt.runtime import BackendFacts  # noqa: E402

pytestmark = pytest.mark.torch

CPU_ONLY = BackendFacts(tensorrt_installed=False, onnxruntime_providers=("CPUExecutionProvider",),
                        torch_installed=True, torch_cuda_device_count=0, cuda_device_count=0)


def perturb_graph_weights(package_root, relative: str, factor: float = 1.5) -> None:
    """Replace a graph by one with different weights and fix the manifest's sha256 (a swapped graph)."""
    path = package_root / relative
    model = onnx.load(str(path))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    weight = next(t for t in model.graph.initializer if t.name == conv.input[1])
    array = onnx.numpy_helper.to_array(weight)
    weight.CopyFrom(onnx.numpy_helper.from_array((array * factor).astype(array.dtype), weight.name))
    onnx.save(model, str(path))
    manifest_path = package_root / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][relative] = sha256_file(path)
    manifest_path.write_text(json.dumps(manifest))


def test_good_package_passes_on_every_cpu_backend(sshsnet_package):
    report = verify_package(sshsnet_package.root, facts=CPU_ONLY)
    assert report.passed
    assert "tensorrt: skipped (not installed)" in report.skipped_backends
    rows = {(r.stage, r.backend, r.device, r.precision): r for r in report.rows}
    assert set(rows) == {(s, b, "cpu", p) for s in ("stage1", "stage2") for b in ("onnxruntime", "torch")
                         for p in ("fp32", "fp16")}
    assert rows[("stage1", "torch", "cpu", "fp32")].status == "reference"
    assert rows[("stage1", "torch", "cpu", "fp16")].status == "skipped"
    for stage in ("stage1", "stage2"):
        fp32, fp16 = rows[(stage, "onnxruntime", "cpu", "fp32")], rows[(stage, "onnxruntime", "cpu", "fp16")]
        assert fp32.status == fp16.status == "ok"
        assert fp32.relative_error < 1e-4 and fp16.relative_error < 1e-2 and fp16.argmax_agreement >= 0.995
    table = report.format_table()
    assert "stage stage2, fold 0" in table and "result: PASS" in table and "rel err" in table
    assert json.loads(json.dumps(report.as_dict()))["passed"] is True


def test_checkpoint_free_compares_with_onnxruntime_fp32(sshsnet_package):
    report = verify_package(sshsnet_package.root, facts=CPU_ONLY, checkpoint_free=True, backends="onnxruntime")
    assert report.passed and report.reference.startswith("onnxruntime")
    assert {r.backend for r in report.rows} == {"onnxruntime"}
    assert {(r.precision, r.status) for r in report.rows} == {("fp32", "reference"), ("fp16", "ok")}


def test_tensorrt_without_gpu_is_reported_as_skipped(sshsnet_package):
    facts = BackendFacts(tensorrt_installed=True, onnxruntime_providers=("CPUExecutionProvider",),
                         torch_installed=True, torch_cuda_device_count=0, cuda_device_count=0)
    report = verify_package(sshsnet_package.root, facts=facts, backends=["tensorrt"])
    assert report.rows == ()
    assert len(report.skipped_backends) == 1 and report.skipped_backends[0].startswith("tensorrt: skipped (")


def test_swapped_graph_with_fixed_sha256_fails(sshsnet_package, tmp_path):
    root = tmp_path / "pkg"
    shutil.copytree(sshsnet_package.root, root)
    perturb_graph_weights(root, "stage2/fold0.fp32.onnx")
    report = verify_package(root, facts=CPU_ONLY, backends="onnxruntime")
    assert not report.passed
    failed = [r for r in report.rows if r.status == "FAIL"]
    assert [(r.stage, r.precision) for r in failed] == [("stage2", "fp32")]
    assert "relative error" in failed[0].note


def test_broken_packages_are_input_errors(sshsnet_package, tmp_path):
    root = tmp_path / "pkg"
    shutil.copytree(sshsnet_package.root, root)
    graph = root / "stage1/fold0.fp16.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    with pytest.raises(InputError, match="does not match the manifest's sha256"):
        verify_package(root, facts=CPU_ONLY)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["stage1/fold0.fp16.onnx"] = sha256_file(graph)
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="cannot load ONNX model"):
        verify_package(root, facts=CPU_ONLY, backends="onnxruntime")
    graph.unlink()
    with pytest.raises(InputError, match="missing"):
        verify_package(root, facts=CPU_ONLY)
    with pytest.raises(InputError, match="valid backends"):
        verify_package(sshsnet_package.root, backends="tensorflow")


def test_a_scan_can_be_the_input(sshsnet_package, tmp_path):
    nibabel = pytest.importorskip("nibabel")
    grid = np.mgrid[0:40, 0:48, 0:8].astype(np.float32)
    volume = 100 + 50 * np.sin(grid[0] / 5) * np.cos(grid[1] / 7) + 5 * grid[2]
    affine = np.diag([4.0, 0.5, 0.5, 1.0])  # sagittal slices along R, 0.5 mm in-plane
    path = tmp_path / "scan.nii.gz"
    nibabel.save(nibabel.Nifti1Image(volume, affine), path)
    report = verify_package(sshsnet_package.root, input_scan=path, facts=CPU_ONLY, backends="onnxruntime")
    assert report.passed and len(report.rows) == 4


@pytest.mark.openvino
def test_openvino_rows_fp32_exact_and_bf16_with_its_argmax_agreement(sshsnet_package, tmp_path, monkeypatch):
    import importlib
    from dataclasses import replace

    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    facts = replace(CPU_ONLY, openvino_installed=True)
    report = verify_package(sshsnet_package.root, facts=facts, backends="openvino")
    rows = {(r.stage, r.precision): r for r in report.rows}
    assert {r.backend for r in report.rows} == {"openvino"} and set(rows) == {
        (s, p) for s in ("stage1", "stage2") for p in ("fp32", "bf16")}
    for stage in ("stage1", "stage2"):
        assert rows[(stage, "fp32")].status == "ok" and rows[(stage, "fp32")].relative_error < 1e-4
        bf16 = rows[(stage, "bf16")]
        if not importlib.import_module("spine_rt.runtime.machine").cpu_capabilities().native_bf16:
            assert bf16.status == "skipped" and "AVX512_BF16 or AMX" in bf16.note
            continue
        assert bf16.argmax_agreement is not None  # reported, and gated like FP16
        assert (bf16.status == "ok") == (bf16.argmax_agreement >= 0.995 and bf16.relative_error < 1e-1)
        if bf16.status != "ok":  # refused for bf16, the package itself still passes
            assert bf16.status == "refused"
            assert f"argmax agreement {100 * bf16.argmax_agreement:.2f} %" in bf16.note or "relative" in bf16.note
    assert report.passed
    assert "bf16: rel err < 1e-01, argmax >= 99.5 %" in report.format_table()
