"""The ONNX passes on small hand-built graphs: BN folding, FP16 conversion, type checks."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from spine_rt.export.batchnorm_folding import fold_batch_norms  # noqa: E402
from spine_rt.export.fp16_graph import convert_to_fp16  # noqa: E402
from spine_rt.export.graph_checks import GraphCheckError, check_graph, mixed_type_nodes  # noqa: E402
from spine_rt.export.graph_cleanup import clean_graph  # noqa: E402

pytestmark = pytest.mark.torch  # the [export] extra's tests

FLOAT, FLOAT16 = TensorProto.FLOAT, TensorProto.FLOAT16
RNG = np.random.default_rng(0)


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _model(nodes, inits, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    return model


def _io(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, FLOAT, shape)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _conv_bn_model(with_conv: bool = True) -> onnx.ModelProto:
    channels = 4
    inits = [
        _init("scale", RNG.uniform(0.5, 1.5, channels)), _init("shift", RNG.normal(0, 0.3, channels)),
        _init("mean", RNG.normal(0, 0.3, channels)), _init("var", RNG.uniform(0.5, 2.0, channels)),
    ]
    nodes = []
    bn_input = "x"
    if with_conv:
        inits += [_init("w", RNG.normal(0, 0.3, (channels, 3, 3, 3))), _init("b", RNG.normal(0, 0.1, channels))]
        nodes.append(helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1], name="conv"))
        bn_input = "conv"
    nodes.append(helper.make_node("BatchNormalization", [bn_input, "scale", "shift", "mean", "var"], ["bn"],
                                  epsilon=1e-5, name="bn"))
    nodes.append(helper.make_node("Relu", ["bn"], ["y"], name="relu"))
    in_channels = 3 if with_conv else channels
    return _model(nodes, inits, [_io("x", ["batch", in_channels, 8, 8])], [_io("y", ["batch", channels, 8, 8])])


@pytest.mark.parametrize("with_conv", [True, False])
def test_batch_norm_is_folded_exactly(with_conv):
    model = _conv_bn_model(with_conv)
    x = RNG.normal(size=(2, 3 if with_conv else 4, 8, 8)).astype(np.float32)
    (before,) = _run(model, {"x": x})
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert fold_batch_norms(folded) == 1
    assert not [n for n in folded.graph.node if n.op_type == "BatchNormalization"]
    if with_conv:
        assert [n.op_type for n in folded.graph.node] == ["Conv", "Relu"]
    (after,) = _run(folded, {"x": x})
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def _attention_like_model() -> onnx.ModelProto:
    """x -> Conv -> [Transpose, MatMul(a, a^T) -> ReduceMax/Sub -> Softmax -> MatMul] -> gate Mul -> Add -> Resize."""
    inits = [
        _init("w", RNG.normal(0, 0.3, (4, 2, 1, 1))), _init("b", RNG.normal(0, 0.1, 4)),
        _init("gate", [0.3]), _init("scales", [1.0, 1.0, 2.0, 2.0]),
        numpy_helper.from_array(np.array([0, 4, 16], dtype=np.int64), "flat"),
        numpy_helper.from_array(np.array([0, 4, 4, 4], dtype=np.int64), "grid"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
        helper.make_node("Reshape", ["c", "flat"], ["f"], name="flatten"),
        helper.make_node("Transpose", ["f"], ["ft"], perm=[0, 2, 1], name="t"),
        helper.make_node("MatMul", ["f", "ft"], ["energy"], name="energy"),
        helper.make_node("ReduceMax", ["energy", "axes"], ["rowmax"], keepdims=1, name="rowmax"),
        helper.make_node("Sub", ["rowmax", "energy"], ["shifted"], name="sub"),
        helper.make_node("Softmax", ["shifted"], ["attn"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["attn", "f"], ["attended"], name="attend"),
        helper.make_node("Reshape", ["attended", "grid"], ["attended4"], name="unflatten"),
        helper.make_node("Mul", ["gate", "attended4"], ["gated"], name="gate"),
        helper.make_node("Add", ["gated", "c"], ["sum"], name="residual"),
        helper.make_node("Resize", ["sum", "", "scales"], ["y"], mode="linear", name="resize"),
    ]
    return _model(nodes, inits, [_io("x", ["batch", 2, 4, 4])], [_io("y", ["batch", 4, 8, 8])])


def test_fp16_conversion_keeps_io_fp32_and_attention_fp32():
    fp32 = clean_graph(_attention_like_model())
    fp16 = convert_to_fp16(fp32)
    check_graph(fp32, "fp32")
    check_graph(fp16, "fp16")
    inferred = onnx.shape_inference.infer_shapes(fp16, strict_mode=True)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.input,
                                                           *inferred.graph.output]}
    types.update({t.name: t.data_type for t in fp16.graph.initializer})
    by_name = {n.name: n for n in fp16.graph.node}
    assert types["x"] == FLOAT and types["y"] == FLOAT
    assert types[by_name["conv"].input[1]] == FLOAT16 and types[by_name["conv"].output[0]] == FLOAT16
    for name in ("energy", "rowmax", "sub", "softmax", "attend", "unflatten", "gate"):
        assert all(types[t] == FLOAT for t in by_name[name].output), name
    assert types[by_name["residual"].output[0]] == FLOAT16  # one FP16 input: the residual add is FP16
    assert types[by_name["resize"].input[2]] == FLOAT  # Resize scales stay float as ONNX requires
    assert mixed_type_nodes(fp16) == []
    x = RNG.normal(size=(2, 2, 4, 4)).astype(np.float32)
    (reference,) = _run(fp32, {"x": x})
    (half,) = _run(fp16, {"x": x})
    assert half.dtype == np.float32
    assert np.abs(half - reference).max() / np.abs(reference).max() < 1e-2


def test_fp16_conversion_refuses_constants_beyond_fp16_range():
    model = _attention_like_model()
    model.graph.initializer[0].CopyFrom(_init("w", np.full((4, 2, 1, 1), 1e6)))
    with pytest.raises(ValueError, match="beyond FP16"):
        convert_to_fp16(clean_graph(model))


def test_mixed_types_are_detected():
    model = _model(
        [helper.make_node("Cast", ["x"], ["h"], to=FLOAT16, name="cast"),
         helper.make_node("Add", ["h", "x"], ["y"], name="mixed")],
        [], [_io("x", ["batch", 4])], [_io("y", ["batch", 4])],
    )
    with pytest.raises(Exception):
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    with pytest.raises(GraphCheckError):
        check_graph(model, "mixed")


def test_check_graph_rejects_batch_norm_and_static_batch():
    with pytest.raises(GraphCheckError, match="BatchNormalization"):
        check_graph(_conv_bn_model(), "bn")
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [], [_io("x", [2, 4])], [_io("y", [2, 4])])
    with pytest.raises(GraphCheckError, match="dynamic batch"):
        check_graph(model, "static")
