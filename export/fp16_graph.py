"""FP32 ONNX graph -> strongly typed FP16 graph with FP32 islands.

TensorRT 11 builds every network strongly typed: each tensor's type is the
one the graph states, so FP16 has to be written into the graph. This pass
rewrites a clean FP32 graph (no ``Constant`` nodes, types inferred):

* graph inputs and outputs stay FP32; a ``Cast`` to FP16 follows each input
  and a ``Cast`` to FP32 precedes each output computed in FP16;
* every float node computes in FP16 (weights converted to FP16), except
* **kept in FP32** (:data:`FP32_OPS`): softmax, every reduction (global
  average pooling of the SE blocks and of ASPP's image pooling, the
  attention's row maxima), normalisations, and products of two activations
  (``MatMul``/``Einsum`` with no constant operand: the tri-attention's
  energies ``Q^T K``, ``X X^T`` and their weighted sums);
* an element-wise or data-movement node (:data:`FOLLOWING_OPS`) all of whose
  non-constant inputs come from FP32 nodes stays FP32 too, so the attention
  chain (energy -> rowmax - energy -> softmax -> product -> reshape -> gate)
  runs in FP32 without Cast ping-pong; one FP16 input makes it FP16.

Every boundary gets an explicit ``Cast``; constants used in both precisions
are stored twice (``name`` FP32, ``name.fp16``). Which inputs follow the
node's precision is read from the operator schema
(:mod:`spine_rt.export.onnx_types`): ``Resize``'s ``scales`` stay FP32 as
ONNX requires.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from spine_rt.export.graph_cleanup import infer_types, remove_unused_initializers
from spine_rt.export.onnx_types import FLOAT, FLOAT16, default_opset, tensor_types, type_groups

#: Operators that always compute in FP32.
FP32_OPS: frozenset[str] = frozenset({
    "Softmax", "LogSoftmax",
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceSumSquare", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool",
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "LpNormalization", "MeanVarianceNormalization", "RMSNormalization",
})
#: Operators that compute in FP32 when no operand is a constant (activation x activation products).
ACTIVATION_PRODUCT_OPS: frozenset[str] = frozenset({"MatMul", "Einsum"})
#: Operators that stay FP32 when all their non-constant inputs are FP32 (and run FP16 otherwise).
FOLLOWING_OPS: frozenset[str] = frozenset({
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Reciprocal", "Sqrt", "Exp", "Log", "Pow",
    "Max", "Min", "Sum", "Mean", "Clip", "Where",
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Gelu", "Softplus", "Elu", "Selu", "HardSigmoid", "HardSwish",
    "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather",
    "Expand", "Tile", "Pad", "Identity",
})
#: Largest finite FP16 value.
FP16_MAX = float(np.finfo(np.float16).max)


def _node_precisions(model: onnx.ModelProto, types: dict[str, int], opset: int) -> list[int | None]:
    """Per node: ``FLOAT16``, ``FLOAT``, or ``None`` (no float data: left as it is)."""
    constants = {tensor.name for tensor in model.graph.initializer}
    # where each float tensor is computed: "fp16" (graph inputs count as FP16 sources) or "fp32"
    domain: dict[str, str] = {info.name: "fp16" for info in model.graph.input}
    precisions: list[int | None] = []
    for node in model.graph.node:
        groups = type_groups(node, opset)
        data_in = [node.input[p] for p in groups.data_inputs() if node.input[p]]
        data_out = [node.output[p] for p in groups.data_outputs() if node.output[p]]
        if not any(types.get(name) == FLOAT for name in (*data_in, *data_out)):
            precisions.append(None)
            for name in node.output:
                if types.get(name) == FLOAT:
                    domain[name] = "fp32"
            continue
        variable_inputs = [name for name in data_in if name not in constants]
        if node.op_type in FP32_OPS:
            precision = FLOAT
        elif node.op_type in ACTIVATION_PRODUCT_OPS and len(variable_inputs) == len(data_in) >= 2:
            precision = FLOAT
        elif node.op_type in FOLLOWING_OPS and variable_inputs and all(
                domain.get(name) == "fp32" for name in variable_inputs):
            precision = FLOAT
        else:
            precision = FLOAT16
        precisions.append(precision)
        for name in node.output:
            if types.get(name) == FLOAT:
                domain[name] = "fp32" if precision == FLOAT or name not in data_out else "fp16"
    return precisions


def _fp16_initializer(tensor: onnx.TensorProto, name: str) -> onnx.TensorProto:
    values = numpy_helper.to_array(tensor)
    finite = values[np.isfinite(values)]
    if finite.size and float(np.abs(finite).max()) > FP16_MAX:
        raise ValueError(f"constant {tensor.name!r} holds values up to {float(np.abs(finite).max()):.3g}, "
                         f"beyond FP16's range ({FP16_MAX:.0f}); it cannot be stored in FP16")
    return numpy_helper.from_array(values.astype(np.float16), name)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return the strongly typed FP16 version of the clean FP32 ``model`` (see the module docstring).

    Raises:
        ValueError: a constant beyond FP16's range.
        onnx.shape_inference.InferenceError: the result is not type-consistent (a bug).
    """
    source = infer_types(_copy(model))
    opset = default_opset(source)
    types = tensor_types(source)
    precisions = _node_precisions(source, types, opset)
    graph = source.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    current: dict[str, int] = {info.name: FLOAT for info in graph.input}
    casts: dict[tuple[str, int], str] = {}
    new_nodes: list[onnx.NodeProto] = []

    def as_type(name: str, wanted: int) -> str:
        if name in initializers:
            if wanted == FLOAT:
                return name
            converted = f"{name}.fp16"
            if converted not in initializers:
                initializers[converted] = _fp16_initializer(initializers[name], converted)
                graph.initializer.append(initializers[converted])
            return converted
        if current.get(name, FLOAT) == wanted:
            return name
        key = (name, wanted)
        if key not in casts:
            casts[key] = f"{name}.to_{'fp16' if wanted == FLOAT16 else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [casts[key]], to=wanted,
                                              name=f"cast.{casts[key]}"))
            current[casts[key]] = wanted
        return casts[key]

    for node, precision in zip(list(graph.node), precisions):
        if precision is None:
            new_nodes.append(node)
            for name in node.output:
                current[name] = types.get(name, 0)
            continue
        groups = type_groups(node, opset)
        for position in groups.data_inputs():
            name = node.input[position]
            if name and types.get(name) == FLOAT:
                node.input[position] = as_type(name, precision)
        new_nodes.append(node)
        data_outputs = set(groups.data_outputs())
        for position, name in enumerate(node.output):
            if types.get(name) == FLOAT:
                current[name] = precision if position in data_outputs else FLOAT

    for output in graph.output:
        if current.get(output.name) == FLOAT16:
            internal = f"{output.name}.fp16"
            for node in new_nodes:
                node.output[:] = [internal if name == output.name else name for name in node.output]
                node.input[:] = [internal if name == output.name else name for name in node.input]
            new_nodes.append(helper.make_node("Cast", [internal], [output.name], to=FLOAT,
                                              name=f"cast.{output.name}.to_fp32"))
    del graph.node[:]
    graph.node.extend(new_nodes)
    remove_unused_initializers(source)
    return infer_types(source)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
