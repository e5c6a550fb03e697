"""Export one fold of one stage: torch network -> FP32 (+ FP16) ONNX files + weights, checked and verified.

For a network with its weights loaded, :func:`export_stage_fold`:

1. exports the FP32 graph (:mod:`spine_rt.export.onnx_export`) and cleans it
   (:mod:`spine_rt.export.graph_cleanup`: BN folded, constants folded);
2. derives the strongly typed FP16 graph (:mod:`spine_rt.export.fp16_graph`);
3. checks every graph (:mod:`spine_rt.export.graph_checks`);
4. writes ``<stage>/fold<k>.<precision>.onnx`` and ``<stage>/fold<k>.weights.pt``;
5. runs each written graph with onnxruntime on the CPU against torch FP32 on
   real-looking inputs (:mod:`spine_rt.export.parity_inputs`) and raises
   :class:`~spine_rt.export.parity.ParityError` beyond tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from spine_rt.export.fp16_graph import convert_to_fp16
from spine_rt.export.graph_checks import check_graph
from spine_rt.export.graph_cleanup import clean_graph
from spine_rt.export.model_families import StageRecipe, network_config
from spine_rt.export.onnx_export import export_onnx
from spine_rt.export.parity import ParityError, compare_outputs, parity_failures
from spine_rt.export.parity_inputs import parity_inputs
from spine_rt.model_package import GraphFile, TensorEntry, WeightFile
from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

#: Batch of the export's example and parity inputs (>= 2, so the batch axis stays dynamic).
PARITY_BATCH = 2


@dataclass(frozen=True)
class FoldExport:
    """What one exported fold contributes to the manifest.

    Attributes:
        graphs: one :class:`GraphFile` per precision.
        weights: the fold's weights file.
        inputs / outputs: graph IO (batch ``None``), identical for every fold.
        parity: one record per precision and output (``stage``, ``fold``,
            ``precision`` + the :class:`~spine_rt.export.parity.OutputParity` fields).
    """

    graphs: tuple[GraphFile, ...]
    weights: WeightFile
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[TensorEntry, ...]
    parity: tuple[dict[str, Any], ...]


def graph_io(model: onnx.ModelProto) -> tuple[tuple[TensorEntry, ...], tuple[TensorEntry, ...]]:
    """Graph inputs and outputs as :class:`TensorEntry` (symbolic axes -> ``None``)."""
    def entries(values) -> tuple[TensorEntry, ...]:
        return tuple(
            TensorEntry(
                name=value.name,
                shape=tuple(dim.dim_value if dim.HasField("dim_value") else None
                            for dim in value.type.tensor_type.shape.dim),
                dtype="float32",
            )
            for value in values
        )
    return entries(model.graph.input), entries(model.graph.output)


def torch_outputs(module: nn.Module, inputs: dict[str, np.ndarray], input_names: Sequence[str],
                  output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Run ``module`` (CPU, FP32, no grad) and name its outputs."""
    with torch.no_grad():
        result = module(*(torch.from_numpy(inputs[name]) for name in input_names))
    if isinstance(result, torch.Tensor):
        result = (result,)
    return {name: tensor.detach().cpu().float().numpy() for name, tensor in zip(output_names, result)}


def export_stage_fold(
    recipe: StageRecipe,
    module: nn.Module,
    fold: int,
    precisions: Sequence[str],
    patch_size: Sequence[int],
    file_path: Callable[[str], Path],
    checkpoint_sha256: str | None = None,
    seed: int = 0,
) -> FoldExport:
    """Export, check, write and verify one fold (see the module docstring).

    Args:
        recipe: the stage.
        module: the network with its weights (any mode; exported in eval mode).
        fold: fold number (file names ``fold<k>.*``).
        precisions: ``("fp32",)`` or ``("fp32", "fp16")``.
        patch_size: the stage's spatial input size.
        file_path: relative package path -> absolute staging path (parents created).
        checkpoint_sha256: sha256 of the checkpoint the weights came from.
        seed: seed of the parity inputs.

    Raises:
        ParityError: onnxruntime's outputs are beyond tolerance of torch's.
        GraphCheckError: a graph failed a check (a bug).
    """
    module = module.eval()
    config = network_config(module)
    input_names, output_names = list(module.input_names), list(module.output_names)
    inputs = parity_inputs(recipe.network, config, patch_size, batch=PARITY_BATCH, seed=seed)
    reference = torch_outputs(module, inputs, input_names, output_names)

    fp32 = clean_graph(export_onnx(module, [torch.from_numpy(inputs[n]) for n in input_names],
                                   input_names, output_names))
    graphs_by_precision = {"fp32": fp32}
    if "fp16" in precisions:
        graphs_by_precision["fp16"] = convert_to_fp16(fp32)

    stem = f"{recipe.name}/fold{fold}"
    weights = WeightFile(path=f"{stem}.weights.pt", fold=fold, checkpoint_sha256=checkpoint_sha256)
    torch.save(module.state_dict(), file_path(weights.path))

    graph_files, records = [], []
    for precision, graph in graphs_by_precision.items():
        label = f"{recipe.name} fold{fold} {precision}"
        check_graph(graph, label)
        entry = GraphFile(path=f"{stem}.{precision}.onnx", precision=precision, fold=fold)
        onnx.save_model(graph, str(file_path(entry.path)))
        graph_files.append(entry)
        with OnnxRuntimeRunner(file_path(entry.path), device="cpu", name=label) as runner:
            candidate = runner.infer(inputs)
        results = compare_outputs(candidate, reference, class_outputs=(recipe.class_output,))
        records += [{"stage": recipe.name, "fold": fold, "precision": precision, **r.as_dict()} for r in results]
        problems = parity_failures(results, precision)
        if problems:
            hint = (" (these weights do not survive FP16 activations; export with --precision fp32, or check "
                    "for attention over very large energies)" if precision == "fp16" else "")
            raise ParityError(f"{label}: onnxruntime differs from torch beyond tolerance: {'; '.join(problems)}; "
                              f"no package was written{hint}")
    graph_inputs, graph_outputs = graph_io(fp32)
    return FoldExport(tuple(graph_files), weights, graph_inputs, graph_outputs, tuple(records))
