"""The spine MR pipeline on OpenVINO: labels equal onnxruntime's, precisions checked, the bf16 gate applied."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from pipeline_fakes import ipr_affine, model_grid_volume, reoriented

import spine_rt
from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.pipelines.bf16_gate import VERDICT_NAME, Bf16Refused

pytestmark = [pytest.mark.torch, pytest.mark.openvino]

NATIVE_BF16 = bool(importlib.import_module("spine_rt.runtime.machine").cpu_capabilities().native_bf16)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def scan() -> Image:
    """96 x 160 x 12 on the model grid, as RAS."""
    return reoriented(Image(model_grid_volume((96, 160, 12), seed=5), ipr_affine()), "RAS")


def test_openvino_labels_equal_onnxruntime(tiny_package, scan):
    with spine_rt.load_pipeline(tiny_package.root, backend="openvino", device="cpu") as on_openvino, \
            spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu") as on_onnxruntime:
        result = on_openvino(scan)
        reference = on_onnxruntime(scan)
        stage_two = on_openvino.stage_two.runners[0]
        compiled_batches = sorted(stage_two._compiled)
    agreement = float((result.labels == reference.labels).mean())
    print(f"openvino vs onnxruntime label agreement: {agreement:.6f}")
    assert agreement >= 0.999
    assert len(np.unique(reference.labels)) > 1  # random weights, but not a constant answer
    report = result.report
    assert report["backend"] == "openvino" and report["precision"] == "fp32"
    assert report["stages"]["stage2"]["sources"] == ["stage2/fold0.fp32.onnx"]
    assert report["backend_reason"] == "openvino CPU requested on cpu"
    assert stage_two.batch == 4 and compiled_batches == [4]  # the pipeline's fixed batch, compiled once


def test_precisions_each_backend_computes_in(tiny_package):
    with pytest.raises(InputError, match="precision bf16 runs on the CPU backend openvino; backend onnxruntime"):
        spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", precision="bf16")
    with pytest.raises(InputError, match="backend openvino computes in fp32 .exact. or bf16"):
        spine_rt.load_pipeline(tiny_package.root, backend="openvino", precision="fp16")
    with pytest.raises(InputError, match="unknown precision 'int8'"):
        spine_rt.load_pipeline(tiny_package.root, backend="openvino", precision="int8")


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has neither AVX512_BF16 nor AMX")
def test_bf16_is_gated_on_loading_and_the_verdict_is_kept(tiny_package, scan, private_cache):
    """Random weights may pass or fail the gate; either way the figure is the stored verdict's."""
    try:
        pipe = spine_rt.load_pipeline(tiny_package.root, backend="openvino", device="cpu", precision="bf16")
    except Bf16Refused as refused:
        verdicts = [json.loads(p.read_text()) for p in private_cache.glob(f"openvino/*/{VERDICT_NAME}")]
        failed = [v for v in verdicts if not v["passed"]]
        assert failed and f"{100 * failed[0]['argmax_agreement']:.2f} %" in str(refused)
        return
    with pipe:
        result = pipe(scan)
    verdicts = [json.loads(p.read_text()) for p in private_cache.glob(f"openvino/*/{VERDICT_NAME}")]
    assert len(verdicts) == 2 and all(v["passed"] and v["argmax_agreement"] >= 0.995 for v in verdicts)
    assert result.report["precision"] == "bf16" and result.report["backend"] == "openvino"
