"""Clean an exported FP32 graph: constants as initializers, BN folded, constants folded, dead code gone.

Steps, in order: ``Constant`` nodes become initializers; batch norms are
folded into convolutions (:mod:`spine_rt.export.batchnorm_folding`);
onnxscript's optimizer folds constant sub-graphs and removes unused nodes;
unused initializers are dropped; stale ``value_info`` is replaced by a fresh
strict shape inference.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxscript.optimizer
from onnx import helper, numpy_helper

from spine_rt.export.batchnorm_folding import fold_batch_norms

#: Constant-folding limits of the optimizer: fold tensors of up to this many elements.
FOLD_SIZE_LIMIT = 1 << 20


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Replace every ``Constant`` node by an initializer of the same name (in place); returns the count."""
    graph = model.graph
    kept: list[onnx.NodeProto] = []
    moved = 0
    for node in graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
            kept.append(node)
            continue
        attribute = node.attribute[0]
        value = helper.get_attribute_value(attribute)
        if attribute.name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value)
        elif attribute.name in ("value_float", "value_floats"):
            tensor = numpy_helper.from_array(np.asarray(value, dtype=np.float32))
        elif attribute.name in ("value_int", "value_ints"):
            tensor = numpy_helper.from_array(np.asarray(value, dtype=np.int64))
        else:  # sparse or string constants: leave them as nodes
            kept.append(node)
            continue
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        moved += 1
    del graph.node[:]
    graph.node.extend(kept)
    return moved


def remove_unused_initializers(model: onnx.ModelProto) -> int:
    """Drop initializers no node reads and no graph output names (in place); returns the count."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    removed = len(graph.initializer) - len(kept)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return removed


def infer_types(model: onnx.ModelProto) -> onnx.ModelProto:
    """Strict shape and type inference from scratch (old ``value_info`` discarded).

    Raises:
        onnx.shape_inference.InferenceError: a node's types or shapes are inconsistent.
    """
    del model.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def clean_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a cleaned copy of the FP32 ``model`` (see the module docstring)."""
    cleaned = onnx.ModelProto()
    cleaned.CopyFrom(model)
    constants_to_initializers(cleaned)
    fold_batch_norms(cleaned)
    cleaned = onnxscript.optimizer.optimize(cleaned, input_size_limit=FOLD_SIZE_LIMIT,
                                            output_size_limit=FOLD_SIZE_LIMIT)
    constants_to_initializers(cleaned)
    remove_unused_initializers(cleaned)
    return infer_types(cleaned)
