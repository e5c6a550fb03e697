"""``package_onnx``: ONNX graphs trained elsewhere -> one verified model package, written atomically.

::

    from spine_rt.export import package_onnx
    package = package_onnx("mbnet", out="pkg/", graphs="mbnet.onnx", layout="channels_last",
                           names={"inputs": {"image": "input_1"},
                                  "outputs": {"segmentation": "seg", "inspection_values": "values"}})
    package = package_onnx("sshsnet", out="pkg/", spec="spec.json")   # docs/package_onnx.md

The same format as :func:`spine_rt.export.export_package` writes, without
torch weights: per stage and fold the cleaned FP32 graph (the given graph
renamed to spine-rt's names, channels first, batch norms and constants
folded; :mod:`spine_rt.export.graph_cleanup`) and the strongly typed FP16
graph (:mod:`spine_rt.export.fp16_graph`). Each graph is checked
(:mod:`spine_rt.export.graph_checks`) and run with onnxruntime against the
*given* FP32 graph on real-looking inputs (:mod:`spine_rt.export.parity_inputs`)
with the export's tolerances; the manifest records every given file's sha256,
the name mapping and the parity figures. Nothing is written unless everything
passes. torch is not needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx

from spine_rt.errors import InputError
from spine_rt.export.fp16_graph import convert_to_fp16
from spine_rt.export.foreign_graph import ForeignGraph, read_foreign_graph, reference_outputs
from spine_rt.export.graph_checks import check_graph
from spine_rt.export.graph_cleanup import clean_graph
from spine_rt.export.model_families import ModelFamily, StageRecipe, model_family
from spine_rt.export.package_options import resolve_labels, resolve_precisions
from spine_rt.export.package_spec import GraphPaths, PackageSpec, resolve_package_spec
from spine_rt.export.package_writer import PackageWriter, check_destination
from spine_rt.export.parity import ParityError, compare_outputs, parity_failures
from spine_rt.export.parity_inputs import parity_inputs
from spine_rt.export.provenance import tool_versions, utc_timestamp
from spine_rt.export.stage_contract import CLASSES, CheckedIO, stage_contract
from spine_rt.model_package import GraphFile, Manifest, ModelPackage, Stage, TensorEntry
from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

#: the ``preset`` recorded for stages built from foreign graphs (no spine-rt network configuration)
EXTERNAL_PRESET = "external"
#: batch of the parity inputs (>= 2: a batch axis fixed inside the graph fails here, not at inference)
PARITY_BATCH = 2
DEFAULT_SEED = 0


def package_onnx(
    model: str,
    out: str | os.PathLike[str],
    graphs: Mapping[str, GraphPaths] | GraphPaths | None = None,
    *,
    spec: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    labels: Any = None,
    preprocessing: Mapping[str, Any] | None = None,
    names: Mapping[str, Any] | None = None,
    layout: str | Mapping[str, str] | None = None,
    precisions: str | Sequence[str] | None = None,
    seed: int | None = None,
    overwrite: bool = False,
) -> ModelPackage:
    """Package ONNX graphs of ``model`` (``sshsnet``, ``mbnet``, ``bilunet``) as a verified package at ``out``.

    Args:
        model: the model family; its stages' contracts are in :mod:`spine_rt.export.stage_contract`.
        out: the package folder to create.
        graphs: ``{stage: path or [paths, one per fold]}`` (a bare path or list
            for one-stage models); replaces the spec's graphs of those stages.
        spec: a spec file or dict (:mod:`spine_rt.export.package_spec`).
        labels: ``{id: name}``, a list of names or a ``labels.json`` path (default: the model's labels).
        preprocessing: manifest preprocessing entries replacing the model's defaults.
        names: ``{stage: {"inputs": {spine-rt name: graph name}, "outputs": {...}}}``
            (the inner dict alone for one-stage models).
        layout: ``channels_first`` (default) or ``channels_last``, or ``{stage: layout}``.
        precisions: ``fp32`` and/or ``fp16`` (default both; FP32 is always written).
        seed: seed of the parity inputs (default 0).
        overwrite: replace an existing package at ``out`` (atomically).

    Returns:
        The written package.

    Raises:
        InputError: a bad spec, label map or preprocessing; an unreadable graph;
            a graph that does not fit its stage's contract (one line naming every
            mismatch); folds or stages that disagree; an existing ``out``.
        ParityError: a written graph differs from the given one beyond tolerance (nothing written).
    """
    family = model_family(model)
    resolved = resolve_package_spec(family, spec, graphs, labels=labels, preprocessing=preprocessing,
                                    names=names, layout=layout, precisions=precisions)
    chosen_precisions = resolve_precisions(resolved.precisions)
    label_map = resolve_labels(family, resolved.labels)
    seed = DEFAULT_SEED if seed is None else int(seed)
    out_path = Path(out)
    check_destination(out_path.absolute(), overwrite)

    foreign = read_stage_graphs(family, resolved, len(label_map))
    sizes = {stage: folds[0].io.patch_size for stage, folds in foreign.items()}
    manifest_preprocessing = resolve_preprocessing(family, sizes, resolved.preprocessing)

    with PackageWriter(out_path, overwrite=overwrite) as writer:
        stages: dict[str, Stage] = {}
        parity: list[dict[str, Any]] = []
        for recipe in family.stages:
            folds = foreign[recipe.name]
            config = stage_config(recipe, folds[0].io, len(label_map))
            graph_files: list[GraphFile] = []
            for fold, graph in enumerate(folds):
                written, records = write_fold(recipe, graph, fold, config, chosen_precisions, writer.file, seed)
                graph_files += written
                parity += records
            io = folds[0].io
            stages[recipe.name] = Stage(
                network=recipe.network,
                preset=EXTERNAL_PRESET,
                config=config,
                patch_size=io.patch_size,
                inputs=tuple(TensorEntry(name, shape) for name, shape in io.inputs.items()),
                outputs=tuple(TensorEntry(name, shape) for name, shape in io.outputs.items()),
                graphs=tuple(graph_files),
            )
        manifest = Manifest(
            task=family.task,
            model=family.name,
            labels=label_map,
            preprocessing=manifest_preprocessing,
            stages=stages,
            provenance=onnx_provenance(foreign, parity),
        )
        return writer.commit(manifest)


def read_stage_graphs(family: ModelFamily, spec: PackageSpec, num_classes: int) -> dict[str, list[ForeignGraph]]:
    """Every stage's graphs, read and checked against the contract; folds and stages checked to agree.

    Raises:
        InputError: see :func:`spine_rt.export.foreign_graph.read_foreign_graph`; folds with
            different shapes; stage two's ``stage_one_features`` channels differing from stage one's.
    """
    result: dict[str, list[ForeignGraph]] = {}
    feature_channels: int | None = None
    for recipe in family.stages:
        stage = spec.stages[recipe.name]
        folds: list[ForeignGraph] = []
        for fold, path in enumerate(stage.graphs):
            label = f"{recipe.name} fold{fold}"
            graph = read_foreign_graph(path, recipe, num_classes, stage.names, stage.layout, feature_channels, label)
            if folds and (graph.io.inputs, graph.io.outputs) != (folds[0].io.inputs, folds[0].io.outputs):
                raise InputError(f"{label}: {path.name} has inputs {graph.io.inputs} and outputs {graph.io.outputs}, "
                                 f"fold0 {folds[0].io.inputs} and {folds[0].io.outputs}; every fold of a stage "
                                 "needs the same shapes and names")
            folds.append(graph)
        feature_channels = feature_channels or folds[0].io.feature_channels
        result[recipe.name] = folds
    return result


def stage_config(recipe: StageRecipe, io: CheckedIO, num_classes: int) -> dict[str, Any]:
    """The manifest's ``config`` of a stage from ONNX: what its IO says (the parity inputs read it)."""
    config: dict[str, Any] = {"num_classes": num_classes}
    if recipe.network == "stage1_pair":
        config.update(in_channels=3, feature_channels=io.feature_channels)
    elif recipe.network == "stage2":
        config.update(in_channels=1 + num_classes, patch_size=list(io.patch_size),
                      stage_one_feature_channels=io.feature_channels)
    else:
        config.update(in_channels=3, image_size=list(io.patch_size))
    return config


def resolve_preprocessing(family: ModelFamily, sizes: Mapping[str, tuple[int, ...]],
                          given: Mapping[str, Any]) -> dict[str, Any]:
    """The family's preprocessing for ``sizes`` with ``given`` entries replacing it, checked by the pipelines' readers.

    ``spacing_mm`` and ``intensity`` (MR) are merged key by key.

    Raises:
        InputError: an entry the pipelines cannot run, or an X-ray ``image_size`` that is not the graph's.
    """
    entry = family.preprocessing(dict(sizes))
    for key, value in given.items():
        if key in ("spacing_mm", "intensity") and isinstance(value, Mapping) and isinstance(entry.get(key), dict):
            entry[key] = {**entry[key], **value}
        else:
            entry[key] = value
    if family.task == "xray":
        from spine_rt.pipelines.xray.preprocessing import XrayPreprocessing
        from spine_rt.pipelines.xray.values import value_scaling_from_manifest

        reader = XrayPreprocessing.from_manifest(entry)
        if reader.image_size != tuple(sizes["xray"]):
            raise InputError(f"preprocessing image_size {list(reader.image_size)} differs from the graph's "
                             f"input size {list(sizes['xray'])}")
        value_scaling_from_manifest(entry)
    else:
        from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing

        _ = MrPreprocessing.from_manifest(entry).resolution_factor
    return entry


def write_fold(recipe: StageRecipe, graph: ForeignGraph, fold: int, config: Mapping[str, Any],
               precisions: Sequence[str], file_path, seed: int) -> tuple[list[GraphFile], list[dict[str, Any]]]:
    """Clean, convert, check, write and verify one fold; returns its graph files and parity records.

    Raises:
        InputError: the given graph cannot run on a batch of :data:`PARITY_BATCH`, or holds constants beyond FP16.
        ParityError: a written graph differs from the given one beyond tolerance.
    """
    label = f"{recipe.name} fold{fold}"
    try:
        fp32 = clean_graph(graph.model)
    except onnx.shape_inference.InferenceError as exc:
        raise InputError(f"{label}: {graph.path.name} fails ONNX shape inference after cleaning "
                         f"({str(exc).strip().splitlines()[0]})") from None
    graphs = {"fp32": fp32}
    if "fp16" in precisions:
        try:
            graphs["fp16"] = convert_to_fp16(fp32)
        except ValueError as exc:
            raise InputError(f"{label}: {exc}; package it with --precision fp32") from None
    contract = stage_contract(recipe)
    class_outputs = tuple(name for rule in contract.outputs if rule.channels == CLASSES for name in rule.names)
    inputs = parity_inputs(recipe.network, config, graph.io.patch_size, batch=PARITY_BATCH, seed=seed)
    reference = reference_outputs(graph, inputs, label)
    files, records = [], []
    for precision, model in graphs.items():
        check_graph(model, f"{label} {precision}")
        entry = GraphFile(path=f"{recipe.name}/fold{fold}.{precision}.onnx", precision=precision, fold=fold)
        onnx.save_model(model, str(file_path(entry.path)))
        files.append(entry)
        with OnnxRuntimeRunner(file_path(entry.path), device="cpu", name=f"{label} {precision}") as runner:
            candidate = runner.infer(inputs)
        results = compare_outputs(candidate, reference, class_outputs=class_outputs)
        records += [{"stage": recipe.name, "fold": fold, "precision": precision, **r.as_dict()} for r in results]
        problems = parity_failures(results, precision)
        if problems:
            hint = " (package it with --precision fp32)" if precision == "fp16" else ""
            raise ParityError(f"{label} {precision}: onnxruntime on the package's graph differs from the given "
                              f"graph beyond tolerance: {'; '.join(problems)}; no package was written{hint}")
    return files, records


def onnx_provenance(foreign: Mapping[str, Sequence[ForeignGraph]], parity: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's ``provenance`` of a package built from ONNX graphs."""
    opsets = sorted({graph.opset for folds in foreign.values() for graph in folds})
    return {
        "created": utc_timestamp(),
        "versions": tool_versions(),
        "opset": opsets[0] if len(opsets) == 1 else opsets,
        "weights": "onnx",
        "random_init_seed": None,
        "checkpoints": {},
        "source_graphs": {stage: [{"fold": fold, **graph.record()} for fold, graph in enumerate(folds)]
                          for stage, folds in foreign.items()},
        "parity_definition": "candidate = onnxruntime CPU on the package's graph, reference = onnxruntime CPU on "
                             "the given FP32 graph, same input; relative_error = max|candidate - reference| / "
                             "max|reference|; argmax_agreement = fraction of voxels with the same argmax over axis 1",
        "parity": parity,
    }
