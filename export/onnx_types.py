"""Element types of an ONNX graph's tensors and the type variables of its operators.

Shared by the FP16 conversion and the graph checks: ONNX operator schemas
name each input/output's type with a type variable (``T``, ``T1``) or a fixed
type (``tensor(float)``); inputs and outputs that share a variable must have
the same element type. "Data positions" of a node are the inputs and outputs
whose variable is shared between at least one input and one output, i.e. the
tensors whose precision follows the node's compute precision (the ``X`` of
``Resize`` but not its ``scales``, both operands of ``MatMul``).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import TensorProto

FLOAT = TensorProto.FLOAT
FLOAT16 = TensorProto.FLOAT16


def default_opset(model: onnx.ModelProto) -> int:
    """The version of the default ONNX domain the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ValueError("the model imports no default-domain opset")


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """``{tensor name: TensorProto element type}`` for inputs, outputs, initializers and value_info.

    Run shape inference first to know the types of intermediate tensors.
    """
    types: dict[str, int] = {}
    for info in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        if info.type.HasField("tensor_type"):
            types[info.name] = info.type.tensor_type.elem_type
    for tensor in model.graph.initializer:
        types[tensor.name] = tensor.data_type
    return types


@dataclass(frozen=True)
class TypeGroups:
    """Positions of a node's inputs/outputs grouped by their schema's type variable.

    Attributes:
        inputs / outputs: ``{type variable: [positions]}``; fixed types are left out.
        data_variables: variables shared by an input and an output.
    """

    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]
    data_variables: frozenset[str]

    def data_inputs(self) -> list[int]:
        """Input positions whose type follows the node's compute precision."""
        return sorted(p for var in self.data_variables for p in self.inputs.get(var, ()))

    def data_outputs(self) -> list[int]:
        """Output positions whose type follows the node's compute precision."""
        return sorted(p for var in self.data_variables for p in self.outputs.get(var, ()))


def _group(params, count: int) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for position in range(count):
        if position < len(params):
            param = params[position]
        elif params and params[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic:
            param = params[-1]
        else:
            continue
        type_str = param.type_str
        if type_str.startswith(("tensor(", "seq(", "optional(", "map(", "sparse_tensor(")):
            continue
        groups.setdefault(type_str, []).append(position)
    return groups


def type_groups(node: onnx.NodeProto, opset: int) -> TypeGroups:
    """The :class:`TypeGroups` of ``node`` from its operator schema at ``opset``.

    Raises:
        onnx.defs.SchemaError: an operator unknown to this onnx.
    """
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    inputs = _group(schema.inputs, len(node.input))
    outputs = _group(schema.outputs, len(node.output))
    return TypeGroups(inputs, outputs, frozenset(inputs) & frozenset(outputs))
