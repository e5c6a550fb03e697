"""Fold ONNX ``BatchNormalization`` nodes into the convolution before them.

For ``y = BN(Conv(x, W, b))`` with per-output-channel ``s = scale /
sqrt(var + eps)``: ``W' = W * s`` (along the output-channel axis) and ``b' =
(b - mean) * s + B``; the BN node disappears. A BN whose input is not the
sole output of a constant-weight ``Conv`` becomes ``Mul`` + ``Add`` with the
same per-channel constants, so no graph of a package contains
``BatchNormalization`` (a strongly typed FP16 build would otherwise need its
statistics kept in FP32).

The torch exporter's optimizer usually folds every BN already; this pass
makes the guarantee independent of the exporter version.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {tensor.name: tensor for tensor in graph.initializer}


def _attribute(node: onnx.NodeProto, name: str, default: float) -> float:
    for attribute in node.attribute:
        if attribute.name == name:
            return float(helper.get_attribute_value(attribute))
    return default


def _unique_name(base: str, taken: set[str]) -> str:
    name, counter = base, 0
    while name in taken:
        counter += 1
        name = f"{base}_{counter}"
    taken.add(name)
    return name


def fold_batch_norms(model: onnx.ModelProto) -> int:
    """Remove every ``BatchNormalization`` of ``model.graph`` in place; returns how many were removed.

    Raises:
        ValueError: a BN whose statistics are not constant (not an eval-mode export).
    """
    graph = model.graph
    initializers = _initializers(graph)
    consumers = Counter(name for node in graph.node for name in node.input)
    graph_outputs = {output.name for output in graph.output}
    producers = {output: node for node in graph.node for output in node.output}
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | set(initializers)
    removed = 0
    new_nodes: list[onnx.NodeProto] = []
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "BatchNormalization":
            continue
        if len(node.output) > 1 and any(node.output[1:]):
            raise ValueError(f"BatchNormalization {node.name!r} has training outputs; export in eval mode")
        names = list(node.input[1:5])
        if not all(name in initializers for name in names):
            raise ValueError(f"BatchNormalization {node.name!r} has non-constant statistics; export in eval mode")
        scale, bias, mean, var = (numpy_helper.to_array(initializers[name]).astype(np.float64) for name in names)
        factor = scale / np.sqrt(var + _attribute(node, "epsilon", 1e-5))
        shift = bias - mean * factor
        producer = producers.get(node.input[0])
        foldable = (
            producer is not None
            and producer.op_type == "Conv"
            and consumers[node.input[0]] == 1
            and node.input[0] not in graph_outputs
            and producer.input[1] in initializers
            and (len(producer.input) < 3 or not producer.input[2] or producer.input[2] in initializers)
            and consumers[producer.input[1]] == 1
        )
        if foldable:
            weight_tensor = initializers[producer.input[1]]
            weight = numpy_helper.to_array(weight_tensor)
            folded = (weight.astype(np.float64) * factor.reshape(-1, *([1] * (weight.ndim - 1)))).astype(weight.dtype)
            weight_tensor.CopyFrom(numpy_helper.from_array(folded, weight_tensor.name))
            if len(producer.input) >= 3 and producer.input[2]:
                bias_tensor = initializers[producer.input[2]]
                if consumers[producer.input[2]] != 1:
                    raise ValueError(f"Conv {producer.name!r} shares its bias; cannot fold {node.name!r}")
                old_bias = numpy_helper.to_array(bias_tensor).astype(np.float64)
                bias_tensor.CopyFrom(numpy_helper.from_array(
                    (old_bias * factor + shift).astype(weight.dtype), bias_tensor.name))
            else:
                bias_name = _unique_name(f"{producer.name or 'conv'}.folded_bias", taken)
                graph.initializer.append(numpy_helper.from_array(shift.astype(weight.dtype), bias_name))
                while len(producer.input) < 3:
                    producer.input.append("")
                producer.input[2] = bias_name
            producer.output[0] = node.output[0]
            dropped.add(id(node))
        else:
            rank_pad = [1] * _spatial_rank(model, node.input[0])
            dtype = numpy_helper.to_array(initializers[names[0]]).dtype
            factor_name = _unique_name(f"{node.name or 'bn'}.factor", taken)
            shift_name = _unique_name(f"{node.name or 'bn'}.shift", taken)
            scaled = _unique_name(f"{node.name or 'bn'}.scaled", taken)
            graph.initializer.append(numpy_helper.from_array(factor.reshape(-1, *rank_pad).astype(dtype), factor_name))
            graph.initializer.append(numpy_helper.from_array(shift.reshape(-1, *rank_pad).astype(dtype), shift_name))
            replaced[id(node)] = [
                helper.make_node("Mul", [node.input[0], factor_name], [scaled], name=f"{node.name}.mul"),
                helper.make_node("Add", [scaled, shift_name], [node.output[0]], name=f"{node.name}.add"),
            ]
        removed += 1
    for node in graph.node:
        if id(node) in dropped:
            continue
        new_nodes.extend(replaced.get(id(node), [node]))
    del graph.node[:]
    graph.node.extend(new_nodes)
    return removed


def _spatial_rank(model: onnx.ModelProto, name: str) -> int:
    """Number of spatial axes of tensor ``name`` (rank - 2), from shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if info.name == name and info.type.tensor_type.HasField("shape"):
            return max(len(info.type.tensor_type.shape.dim) - 2, 0)
    raise ValueError(f"cannot fold BatchNormalization on {name!r}: its rank is unknown")
