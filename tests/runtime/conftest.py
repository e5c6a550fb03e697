"""Tiny ONNX models built with ``onnx.helper`` for the runner tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = 17
IR_VERSION = 8  # old enough for any onnxruntime >= 1.17


def _model_bytes(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def affine_model_bytes() -> bytes:
    """``Y = 2 * X + 1``; X and Y are float32 ``(N, 3)`` with a dynamic batch ``N``."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["X", "two"], ["scaled"]), helper.make_node("Add", ["scaled", "one"], ["Y"])],
        "affine",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
        initializer=[two, one],
    )
    return _model_bytes(graph)


def two_output_model_bytes() -> bytes:
    """Inputs ``a`` float32 ``(N, 4)`` and ``steps`` int64 ``(N,)``; outputs ``sum = a + a`` and ``count = steps + 1``."""
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "a"], ["sum"]), helper.make_node("Add", ["steps", "one"], ["count"])],
        "two_outputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("steps", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("count", TensorProto.INT64, ["batch"]),
        ],
        initializer=[one],
    )
    return _model_bytes(graph)


@pytest.fixture(scope="session")
def affine_model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "affine.onnx"
    path.write_bytes(affine_model_bytes())
    return path


@pytest.fixture(scope="session")
def two_output_model() -> bytes:
    return two_output_model_bytes()
