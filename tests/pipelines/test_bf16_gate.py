"""The BF16 gate: a graph whose labels hinge on differences below BF16's resolution is refused with the figure."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.pipelines.bf16_gate import (
    MIN_ARGMAX_AGREEMENT,
    VERDICT_NAME,
    Bf16Refused,
    Bf16Verdict,
    compare_bf16,
    refuse_unless_passed,
)

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

NATIVE_BF16 = bool(importlib.import_module("spine_rt.runtime.machine").cpu_capabilities().native_bf16)
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has neither AVX512_BF16 nor AMX")

#: class 1's weights exceed class 0's by 2^-10, below BF16's resolution (2^-8 relative): in BF16 the classes tie
FRAGILE_MARGIN = 2.0 ** -10


def fragile_graph(path, margin: float = FRAGILE_MARGIN):
    """``(N, 3, H, W)`` -> logits ``(N, 2, H, W)`` by a 1x1 convolution: class 0 sums the channels, class 1
    sums them times ``1 + margin``. On positive inputs FP32 always picks class 1; with a margin below
    BF16's resolution BF16 rounds both weights to 1 and the tie goes to class 0."""
    weights = np.ones((2, 3, 1, 1), np.float32)
    weights[1] += margin
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["segmentation"])],
        "bf16_fragile",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("segmentation", TensorProto.FLOAT, ["N", 2, 16, 16])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def stage_package(network: str = "mbnet", patch=(16, 16)):
    """The two things the gate asks of a package: the stage's network, configuration and patch size."""
    stage = SimpleNamespace(network=network, config={}, patch_size=patch)
    return SimpleNamespace(stage=lambda name: stage)


def test_comparison_and_refusal_without_openvino():
    # (batch 1, 2 classes, 4 voxels): classes 1, 1, 1, 0
    fp32 = {"logits": np.array([[[0.0, 0.0, 0.0, 5.0], [1.0, 1.0, 1.0, 0.0]]])}
    same = compare_bf16(fp32, fp32, "logits", "given")
    assert same == Bf16Verdict(1.0, 0.0, 0.0, True, "given")
    changed = {"logits": fp32["logits"].copy()}
    changed["logits"][0, 0, 0] = 3.0  # the first voxel now says class 0
    verdict = compare_bf16(changed, fp32, "logits", "given")
    assert verdict.argmax_agreement == pytest.approx(0.75) and not verdict.passed
    assert verdict.max_abs_error == 3.0 and verdict.relative_error == pytest.approx(3.0 / 5.0)
    with pytest.raises(Bf16Refused, match=r"precision bf16 refused for stage2: argmax agreement with FP32 75\.00 % "
                                          r"on a real-looking input \(limit >= 99\.5 %"):
        refuse_unless_passed(verdict, "stage2")
    assert issubclass(Bf16Refused, InputError)  # exit code 2 on the command line
    refuse_unless_passed(same, "stage2")  # a passing verdict is silent
    assert MIN_ARGMAX_AGREEMENT == 0.995


@pytest.mark.openvino
@needs_bf16
def test_a_graph_that_fails_in_bf16_is_refused_with_the_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    from spine_rt.pipelines.bf16_gate import gate_stage
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    path = fragile_graph(tmp_path / "fragile.onnx")
    runner = OpenVINORunner(path, precision="bf16", batch=1)
    with pytest.raises(Bf16Refused, match=r"argmax agreement with FP32 0\.00 %.*use precision fp32") as refused:
        gate_stage(stage_package(), "xray", runner, "segmentation")
    assert "limit >= 99.5 %" in str(refused.value)
    stored = json.loads((runner.cache_folder / VERDICT_NAME).read_text())
    assert stored["passed"] is False and stored["argmax_agreement"] == 0.0
    # a later process reads the stored verdict and refuses again, without running the check
    again = OpenVINORunner(path, precision="bf16", batch=1)
    monkeypatch.setattr("spine_rt.pipelines.bf16_gate.check_bf16", lambda *a, **k: pytest.fail("check re-run"))
    with pytest.raises(Bf16Refused, match=r"0\.00 %"):
        gate_stage(stage_package(), "xray", again, "segmentation")
    runner.close()
    again.close()


@pytest.mark.openvino
@needs_bf16
def test_report_mode_gives_the_failed_verdict_to_time_bf16_without_refusing(tmp_path, monkeypatch):
    """What ``spine-rt bench`` uses: the runner is made and carries the verdict; unknown modes are refused."""
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    from spine_rt.pipelines.bf16_gate import gate_stage
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    path = fragile_graph(tmp_path / "fragile.onnx")
    with OpenVINORunner(path, precision="bf16", batch=1) as runner:
        verdict = gate_stage(stage_package(), "xray", runner, "segmentation", mode="report")
        assert not verdict.passed and verdict.argmax_agreement == 0.0 and runner.bf16_verdict == verdict
        with pytest.raises(InputError, match="unknown bf16 gate mode 'warn'"):
            gate_stage(stage_package(), "xray", runner, "segmentation", mode="warn")
        with pytest.raises(Bf16Refused):  # the stored verdict, refused in the default mode
            gate_stage(stage_package(), "xray", runner, "segmentation")


@pytest.mark.openvino
@needs_bf16
def test_a_graph_whose_margin_bf16_resolves_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    from spine_rt.pipelines.bf16_gate import gate_stage
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    path = fragile_graph(tmp_path / "robust.onnx", margin=0.25)
    with OpenVINORunner(path, precision="bf16", batch=1) as runner:
        verdict = gate_stage(stage_package(), "xray", runner, "segmentation")
    assert verdict.passed and verdict.argmax_agreement == 1.0
    assert verdict.input == "parity input, seed 0, batch 1"
