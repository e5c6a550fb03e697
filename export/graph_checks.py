"""Checks every exported graph passes before it goes into a package.

* :func:`check_graph`: ``onnx.checker`` with ``full_check`` (which includes
  strict shape inference), no ``BatchNormalization`` left, FP32 graph inputs
  and outputs with a dynamic batch axis and static other axes, and a
  consistent element type for every tensor bound to one type variable
  (:func:`mixed_type_nodes`), which a strongly typed TensorRT build demands.

Failures raise :class:`GraphCheckError`: an export that produced a bad graph
is a bug, not bad user input (exit code 1).
"""

from __future__ import annotations

import onnx

from spine_rt.errors import SpineRTError
from spine_rt.export.graph_cleanup import infer_types
from spine_rt.export.onnx_types import FLOAT, default_opset, tensor_types, type_groups


class GraphCheckError(SpineRTError):
    """An exported graph failed a check (a bug in the export; exit code 1)."""


def batch_norm_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the ``BatchNormalization`` nodes of ``model`` (empty once folded)."""
    return [node.name or node.output[0] for node in model.graph.node if node.op_type == "BatchNormalization"]


def mixed_type_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes whose inputs/outputs sharing a type variable have different element types.

    Returns one line per offending node, e.g. ``"Add add_12: T = FLOAT16, FLOAT"``.
    Types come from a fresh strict shape inference of ``model``.
    """
    inferred = infer_types(_copy(model))
    types = tensor_types(inferred)
    opset = default_opset(inferred)
    problems = []
    for node in inferred.graph.node:
        groups = type_groups(node, opset)
        for variable in set(groups.inputs) | set(groups.outputs):
            names = [node.input[p] for p in groups.inputs.get(variable, ()) if node.input[p]]
            names += [node.output[p] for p in groups.outputs.get(variable, ()) if node.output[p]]
            found = {types[name] for name in names if name in types}
            if len(found) > 1:
                readable = ", ".join(sorted(onnx.TensorProto.DataType.Name(t) for t in found))
                problems.append(f"{node.op_type} {node.name or node.output[0]}: {variable} = {readable}")
    return problems


def check_io(model: onnx.ModelProto) -> None:
    """Graph inputs/outputs are FP32 with a symbolic batch axis and static other axes.

    Raises:
        GraphCheckError: naming the offending tensor.
    """
    for info in [*model.graph.input, *model.graph.output]:
        tensor_type = info.type.tensor_type
        if tensor_type.elem_type != FLOAT:
            raise GraphCheckError(f"graph tensor {info.name!r} is "
                                  f"{onnx.TensorProto.DataType.Name(tensor_type.elem_type)}, not FLOAT")
        dims = list(tensor_type.shape.dim)
        if not dims or not dims[0].dim_param:
            raise GraphCheckError(f"graph tensor {info.name!r} has no dynamic batch axis")
        if any(not dim.HasField("dim_value") for dim in dims[1:]):
            raise GraphCheckError(f"graph tensor {info.name!r} has a dynamic non-batch axis")


def check_graph(model: onnx.ModelProto, label: str) -> None:
    """Run every check on ``model``; ``label`` (e.g. ``"stage2 fold0 fp16"``) starts each message.

    Raises:
        GraphCheckError: the first failing check.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise GraphCheckError(f"{label}: the ONNX checker rejects the graph: {str(exc).splitlines()[0]}") from None
    remaining = batch_norm_nodes(model)
    if remaining:
        raise GraphCheckError(f"{label}: {len(remaining)} BatchNormalization node(s) were not folded "
                              f"({', '.join(remaining[:3])})")
    try:
        check_io(model)
    except GraphCheckError as exc:
        raise GraphCheckError(f"{label}: {exc}") from None
    mixed = mixed_type_nodes(model)
    if mixed:
        raise GraphCheckError(f"{label}: {len(mixed)} node(s) mix element types: {'; '.join(mixed[:3])}")


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
