"""Read an ONNX graph trained elsewhere and bring it to a stage's contract: spine-rt's names, channels first.

:func:`read_foreign_graph` does, on a copy (the given file is never changed):

1. load and check the file (``onnx.checker``; standard ONNX operators only;
   local functions inlined; initializers listed as graph inputs removed from the inputs);
2. match the graph's inputs and outputs to the stage's names
   (:mod:`spine_rt.export.stage_contract`): a name the graph already uses, a
   mapping ``{spine-rt name: graph name}`` from the spec, or the only input
   when the contract and the graph each have one;
3. rename them in the copy (a tensor that already has the new name is renamed
   out of the way); with ``layout="channels_last"`` (Keras/tf2onnx graphs,
   ``(N, H, W, C)``) a ``Transpose`` makes each input channels first and each
   spatial output channels first again; outputs the stage does not use are dropped;
4. name the batch axis ``batch``, infer every shape (strict ONNX inference)
   and check the named shapes against the contract: every mismatch is one
   phrase of the single :class:`~spine_rt.errors.InputError` line.

:func:`reference_outputs` runs the *given* file with onnxruntime on
channels-first inputs (transposed as the graph wants them) for the parity check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from spine_rt.errors import InputError
from spine_rt.export.graph_cleanup import infer_types
from spine_rt.export.model_families import StageRecipe
from spine_rt.export.stage_contract import CheckedIO, Shape, StageContract, check_stage_io, stage_contract
from spine_rt.model_package import sha256_file

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
LAYOUTS = (CHANNELS_FIRST, CHANNELS_LAST)
STANDARD_DOMAINS = ("", "ai.onnx")
#: name of the dynamic batch axis, as in the graphs ``spine-rt export`` writes (spine_rt.export.onnx_export)
BATCH_AXIS_NAME = "batch"


@dataclass(frozen=True)
class ForeignGraph:
    """A given graph brought to its stage's contract (not cleaned yet).

    Attributes:
        path / sha256: the given file.
        model: the adapted copy: spine-rt's input/output names in the contract's
            order, channels first, batch axis ``batch``, shapes inferred.
        io: the shapes and sizes the contract check found.
        inputs / outputs: spine-rt name -> the name in the given graph.
        layout: ``channels_first`` or ``channels_last`` (of the given graph).
        dropped_outputs: outputs of the given graph the stage does not use.
        producer / opset: what made the given graph.
    """

    path: Path
    sha256: str
    model: onnx.ModelProto
    io: CheckedIO
    inputs: dict[str, str]
    outputs: dict[str, str]
    layout: str
    dropped_outputs: tuple[str, ...]
    producer: str
    opset: int

    def record(self) -> dict[str, object]:
        """The manifest's provenance entry of this graph."""
        return {"file": self.path.name, "sha256": self.sha256, "producer": self.producer, "opset": self.opset,
                "layout": self.layout, "inputs": self.inputs, "outputs": self.outputs,
                "dropped_outputs": list(self.dropped_outputs)}


def load_onnx(path: Path, label: str) -> onnx.ModelProto:
    """Load and check an ONNX file; one :class:`InputError` line for anything unreadable."""
    if not path.is_file():
        raise InputError(f"{label}: ONNX file not found: {path}")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{label}: {path} is not a readable ONNX model ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'cannot parse'})") from None
    if not model.graph.node or not model.opset_import:
        raise InputError(f"{label}: {path} is not a readable ONNX model (no graph or no opset in it)")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise InputError(f"{label}: the ONNX checker rejects {path}: {str(exc).strip().splitlines()[0]}") from None
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    foreign = sorted({f"{node.domain}:{node.op_type}" for node in model.graph.node
                      if node.domain not in STANDARD_DOMAINS})
    if foreign:
        raise InputError(f"{label}: {path} uses operators outside the standard ONNX domain ({', '.join(foreign)}); "
                         "spine-rt's FP16 pass and TensorRT need standard operators (export without "
                         "onnxruntime-specific fusions or custom ops)")
    initializers = {tensor.name for tensor in model.graph.initializer}
    if any(info.name in initializers for info in model.graph.input):
        kept = [info for info in model.graph.input if info.name not in initializers]
        del model.graph.input[:]
        model.graph.input.extend(kept)
    return model


def _shape(info: onnx.ValueInfoProto) -> Shape:
    tensor_type = info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return ()
    return tuple(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or None)
                 for dim in tensor_type.shape.dim)


def _resolve(kind: str, contract: StageContract, graph_names: list[str],
             given: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """spine-rt name -> graph name for one side (inputs or outputs); problems for unknown or missing names."""
    rules = contract.inputs if kind == "input" else contract.outputs
    known = [name for rule in rules for name in rule.names]
    problems: list[str] = []
    for ours, theirs in given.items():
        if ours not in known:
            problems.append(f"the spec maps {kind} {ours!r}, which the stage does not have ({kind}s: "
                            f"{', '.join(known)})")
        elif theirs not in graph_names:
            problems.append(f"the spec maps {kind} {ours!r} to {theirs!r}, which the graph does not have "
                            f"(its {kind}s: {', '.join(graph_names) or 'none'})")
    mapping: dict[str, str] = {}
    for rule in rules:
        mapped = [name for name in rule.names if name in given and given[name] in graph_names]
        if mapped:
            mapping[mapped[0]] = given[mapped[0]]
            continue
        same = [name for name in rule.names if name in graph_names and name not in given.values()]
        if same:
            mapping[same[0]] = same[0]
        elif len(rules) == 1 and len(rule.names) == 1 and len(graph_names) == 1 and not given:
            mapping[rule.name] = graph_names[0]  # one input, one candidate: unambiguous
    if len(set(mapping.values())) != len(mapping):
        problems.append(f"the spec maps two {kind}s to the same graph tensor ({mapping})")
    return mapping, problems


def _all_names(graph: onnx.GraphProto) -> set[str]:
    names = {info.name for info in (*graph.input, *graph.output, *graph.value_info)}
    names |= {tensor.name for tensor in graph.initializer}
    for node in graph.node:
        names |= set(node.input) | set(node.output)
    return names


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in ``graph`` (subgraphs included)."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
        for attribute in node.attribute:
            for sub in [attribute.g, *attribute.graphs] if attribute.type in (
                    onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) else []:
                _rename(sub, old, new)
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.name == old:
            info.name = new
    for tensor in graph.initializer:
        if tensor.name == old:
            tensor.name = new


def _unique(graph: onnx.GraphProto, name: str) -> str:
    taken = _all_names(graph)
    index = 0
    while f"{name}.original{index or ''}" in taken:
        index += 1
    return f"{name}.original{index or ''}"


def _spatial_rank(info: onnx.ValueInfoProto, label: str) -> int:
    rank = len(_shape(info))
    if rank == 0:
        raise InputError(f"{label}: graph tensor {info.name!r} declares no shape; with layout channels_last "
                         "spine-rt needs the rank of every input and output")
    return rank


def _adapt(model: onnx.ModelProto, inputs: dict[str, str], outputs: dict[str, str], layout: str,
           label: str) -> tuple[onnx.ModelProto, dict[str, Shape], tuple[str, ...]]:
    """The renamed, channels-first copy and its input shapes by spine-rt name (see the module docstring)."""
    adapted = onnx.ModelProto()
    adapted.CopyFrom(model)
    graph = adapted.graph
    inputs, outputs = dict(inputs), dict(outputs)
    declared = {info.name: info for info in (*graph.input, *graph.output)}
    transposed = {ours for side in (inputs, outputs) for ours, theirs in side.items()
                  if layout == CHANNELS_LAST and _spatial_rank(declared[theirs], label) >= 3}
    # 1. a tensor that holds a spine-rt name it is not mapped to (or must keep for a Transpose) moves out of the way
    for ours in [*inputs, *outputs]:
        mapped = inputs.get(ours, outputs.get(ours))
        if ours in _all_names(graph) and (ours != mapped or ours in transposed):
            moved = _unique(graph, ours)
            _rename(graph, ours, moved)
            inputs = {k: moved if v == ours else v for k, v in inputs.items()}
            outputs = {k: moved if v == ours else v for k, v in outputs.items()}
    declared = {info.name: info for info in (*graph.input, *graph.output)}
    dropped = tuple(info.name for info in model.graph.output if info.name not in outputs.values())
    # 2. inputs: renamed, or a channels-first input transposed to the graph's channels-last one
    head, tail, new_inputs, shapes = [], [], [], {}
    for ours, theirs in inputs.items():
        shape = _shape(declared[theirs])
        elem_type = declared[theirs].type.tensor_type.elem_type
        if ours in transposed:
            shape = (shape[0], shape[-1], *shape[1:-1])
            head.append(helper.make_node("Transpose", [ours], [theirs], name=f"layout.{ours}",
                                         perm=[0, *range(2, len(shape)), 1]))
        else:
            _rename(graph, theirs, ours)
        dims = [BATCH_AXIS_NAME if index == 0 and not isinstance(dim, int) else dim for index, dim in enumerate(shape)]
        new_inputs.append(helper.make_tensor_value_info(ours, elem_type, dims))
        shapes[ours] = tuple(dims)
    # 3. outputs: renamed, or transposed back to channels first; others dropped
    new_outputs = []
    for ours, theirs in outputs.items():
        elem_type = declared[theirs].type.tensor_type.elem_type
        if ours in transposed:
            rank = _spatial_rank(declared[theirs], label)
            tail.append(helper.make_node("Transpose", [theirs], [ours], name=f"layout.{ours}",
                                         perm=[0, rank - 1, *range(1, rank - 1)]))
        else:
            _rename(graph, theirs, ours)
        new_outputs.append(helper.make_tensor_value_info(ours, elem_type, None))
    body = list(graph.node)
    del graph.node[:]
    graph.node.extend([*head, *body, *tail])
    del graph.input[:]
    graph.input.extend(new_inputs)
    del graph.output[:]
    graph.output.extend(new_outputs)
    return adapted, shapes, dropped


def read_foreign_graph(
    path: str | Path,
    recipe: StageRecipe,
    num_classes: int,
    names: Mapping[str, Mapping[str, str]] | None = None,
    layout: str = CHANNELS_FIRST,
    feature_channels: int | None = None,
    label: str = "",
) -> ForeignGraph:
    """Load ``path`` and bring it to ``recipe``'s contract (see the module docstring).

    Args:
        path: the ONNX file (external data beside it is read).
        recipe: the stage it is for.
        num_classes: number of labels (the class channels every class output must have).
        names: ``{"inputs": {spine-rt name: graph name}, "outputs": {...}}``.
        layout: ``channels_first`` (PyTorch) or ``channels_last`` (Keras/tf2onnx ``(N, H, W, C)``).
        feature_channels: stage one's ``F`` when the other SSHSNet stage fixed it.
        label: ``"stage2 fold1"``, starting every message.

    Raises:
        InputError: an unreadable file, non-standard operators, failing shape
            inference, or every way the graph misses the contract (one line).
    """
    file = Path(path)
    label = label or recipe.name
    if layout not in LAYOUTS:
        raise InputError(f"{label}: unknown layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    model = load_onnx(file, label)
    contract = stage_contract(recipe)
    given = dict(names or {})
    graph_inputs = [info.name for info in model.graph.input]
    graph_outputs = [info.name for info in model.graph.output]
    inputs, problems = _resolve("input", contract, graph_inputs, dict(given.get("inputs", {})))
    outputs, more = _resolve("output", contract, graph_outputs, dict(given.get("outputs", {})))
    problems += more
    extra = [name for name in graph_inputs if name not in inputs.values()]
    if extra:
        problems.append(f"graph input(s) {', '.join(map(repr, extra))} have no place in the {recipe.name} stage "
                        f"(inputs: {', '.join(rule.name for rule in contract.inputs)}); map them in the spec's "
                        "\"inputs\"")
    for info in [*model.graph.input, *model.graph.output]:
        if info.name in [*inputs.values(), *outputs.values()] and \
                info.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            problems.append(f"graph tensor {info.name!r} is "
                            f"{onnx.TensorProto.DataType.Name(info.type.tensor_type.elem_type)}, not FLOAT (float32)")
    if extra:  # a graph that needs inputs the pipelines do not give cannot be adapted: stop here
        raise InputError(f"{label}: {file.name} does not fit the {recipe.name} stage: {'; '.join(problems)}")
    adapted, input_shapes, dropped = _adapt(model, inputs, outputs, layout, label)
    try:
        adapted = infer_types(adapted)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        raise InputError(f"{label}: ONNX shape inference rejects {file} after renaming "
                         f"({str(exc).strip().splitlines()[0]})"
                         + (f"; also: {'; '.join(problems)}" if problems else "")) from None
    output_shapes: dict[str, Shape] = {}
    for info in adapted.graph.output:
        shape = _shape(info)
        if shape and shape[0] is None:  # a batch axis inference could not name (e.g. Reshape to (-1, 18))
            info.type.tensor_type.shape.dim[0].dim_param = BATCH_AXIS_NAME
            shape = (BATCH_AXIS_NAME, *shape[1:])
        output_shapes[info.name] = shape
    unmatched = {"input": [name for name in graph_inputs if name not in inputs.values()],
                 "output": [name for name in graph_outputs if name not in outputs.values()]}
    checked, found = check_stage_io(contract, input_shapes, output_shapes, num_classes, recipe, feature_channels,
                                    unmatched)
    problems += found
    if problems or checked is None:
        raise InputError(f"{label}: {file.name} does not fit the {recipe.name} stage: {'; '.join(problems)}")
    opset = next(entry.version for entry in model.opset_import if entry.domain in STANDARD_DOMAINS)
    producer = " ".join(part for part in (model.producer_name, model.producer_version) if part) or "unknown"
    return ForeignGraph(file, sha256_file(file), adapted, checked, inputs, outputs, layout, dropped, producer,
                        int(opset))


def reference_outputs(graph: ForeignGraph, feed: Mapping[str, np.ndarray], label: str) -> dict[str, np.ndarray]:
    """Run the *given* file with onnxruntime (CPU) on channels-first ``feed`` (spine-rt names).

    Returns:
        spine-rt output name -> float32 array, channels first.

    Raises:
        InputError: onnxruntime cannot load or run the given graph on this feed
            (e.g. a batch axis fixed inside the graph).
    """
    import onnxruntime

    own_feed = {}
    for ours, theirs in graph.inputs.items():
        array = np.ascontiguousarray(feed[ours], dtype=np.float32)
        if graph.layout == CHANNELS_LAST and array.ndim >= 3:
            array = np.ascontiguousarray(np.moveaxis(array, 1, -1))
        own_feed[theirs] = array
    try:
        session = onnxruntime.InferenceSession(str(graph.path), providers=["CPUExecutionProvider"])
        wanted = list(graph.outputs.values())
        results = session.run(wanted, own_feed)
    except Exception as exc:  # onnxruntime raises its own exception types for a graph it cannot run
        raise InputError(f"{label}: onnxruntime cannot run the given graph {graph.path.name} on a batch of "
                         f"{next(iter(own_feed.values())).shape[0]} ({str(exc).strip().splitlines()[0]})") from None
    outputs = {}
    for ours, array in zip(graph.outputs, results):
        array = np.asarray(array, dtype=np.float32)
        if graph.layout == CHANNELS_LAST and array.ndim >= 3:
            array = np.moveaxis(array, -1, 1)
        outputs[ours] = np.ascontiguousarray(array)
    return outputs
