"""``export_package``: trained (or random) weights -> one verified model package, written atomically.

::

    from spine_rt.export import export_package
    package = export_package(
        "sshsnet", out="pkg/",
        checkpoints={"stage1": "S1.pt", "stage2": ["S2_fold0.pt", "S2_fold1.pt"]},
        preset="full", precisions=("fp32", "fp16"),
    )

Every keyword defaults to ``None`` and is resolved here (one place for each
default): preset, labels, network widths and preprocessing from spine-rt
training checkpoints when they record them (else preset ``full`` and the
family's labels and SEEDS grid), precisions ``fp32`` + ``fp16``, the
family's patch sizes, seed 0. The FP32 graph is always written (it is the
reference of the FP16 one); ``fp16`` adds the strongly typed FP16 graph.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from spine_rt.errors import InputError
from spine_rt.export.checkpoint_arguments import CheckpointPaths, resolve_checkpoints
from spine_rt.export.model_families import ModelFamily, model_family, network_config
from spine_rt.export.onnx_export import OPSET
from spine_rt.export.parity_inputs import parity_inputs
from spine_rt.export.package_options import LabelsArgument, resolve_labels, resolve_precisions
from spine_rt.export.package_writer import PackageWriter, check_destination
from spine_rt.export.provenance import provenance
from spine_rt.export.random_init import randomize_for_export
from spine_rt.export.stage_export import FoldExport, export_stage_fold
from spine_rt.export.training_metadata import TrainingMetadata, agreed, read_training_metadata
from spine_rt.model_package import Manifest, ModelPackage, Stage, sha256_file
from spine_rt.models import PRESETS, build
from spine_rt.models.authors_checkpoints import LAYOUTS, Layout
from spine_rt.models.checkpoint import checkpoint_layout, load_checkpoint_format, read_state_dict

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "full"
DEFAULT_SEED = 0
#: batch of the inputs that calibrate the batch norms of --random-init networks
CALIBRATION_BATCH = 4

def resolve_patch_sizes(family: ModelFamily, preset: str,
                        patch_sizes: Mapping[str, Sequence[int]] | None,
                        trained: Mapping[str, Sequence[int] | None] | None = None) -> dict[str, tuple[int, ...]]:
    """Per stage: the given patch size, else the size the checkpoints were trained with, else the
    family's default for ``preset`` (all validated).

    A given size that differs from the trained one is used, with a warning
    (logger ``spine_rt.export.package_export``): the network then sees
    windows of another size than in training and validation (its global
    pooling and attention span the window, and zero padding around a small
    scan moves what it learned about position), so its Dice may differ.

    Raises:
        InputError: an unknown stage or an invalid size.
    """
    given = dict(patch_sizes or {})
    for stage in given:
        family.stage(stage)
    learned = {stage: tuple(int(s) for s in size) for stage, size in (trained or {}).items() if size is not None}
    sizes = {}
    for recipe in family.stages:
        if recipe.name in given:
            sizes[recipe.name] = recipe.check_patch_size(given[recipe.name])
            if recipe.name in learned and sizes[recipe.name] != learned[recipe.name]:
                logger.warning(
                    "stage %s: patch size %s differs from the %s the checkpoint was trained and validated with; "
                    "the package's Dice may differ from training's (leave out --patch-size to use the trained size)",
                    recipe.name, ",".join(map(str, sizes[recipe.name])), ",".join(map(str, learned[recipe.name])))
        else:
            sizes[recipe.name] = recipe.check_patch_size(learned.get(recipe.name, recipe.default_patch_size[preset]))
    return sizes


def export_package(
    model: str,
    out: str | os.PathLike[str],
    checkpoints: Mapping[str, CheckpointPaths] | CheckpointPaths | None = None,
    *,
    preset: str | None = None,
    precisions: str | Sequence[str] | None = None,
    labels: LabelsArgument = None,
    patch_sizes: Mapping[str, Sequence[int]] | None = None,
    random_init: bool = False,
    seed: int | None = None,
    overwrite: bool = False,
    relabel_levels: bool | None = None,
) -> ModelPackage:
    """Export ``model`` (``sshsnet``, ``mbnet``, ``bilunet``) to a verified package at ``out``.

    Args:
        model: the model family (see :data:`spine_rt.export.model_families.EXPORTABLE_MODELS`).
        out: the package folder to create.
        checkpoints: ``{stage: path or [paths, one per fold]}`` (a bare path
            or list for one-stage models); ``None`` with ``random_init``.
        preset: ``full`` or ``tiny``; default: the preset the checkpoints were
            trained with (spine-rt training checkpoints record it), else ``full``.
        precisions: ``fp32`` and/or ``fp16`` (default both; FP32 is always written).
        labels: ``{id: name}``, a list of names, or a ``labels.json`` path;
            sets ``num_classes`` (default: the checkpoints' labels, else the family's).
        patch_sizes: ``{stage: spatial size}`` overriding the defaults: the sizes the
            checkpoints were trained with (spine-rt training checkpoints record stage one's
            crop, stage two's patch, MBNet's image size), else stage one ``(512, 256)`` =
            S->I x A->P, stage two ``(192, 192, 12)``, X-ray ``(512, 512)``. A size that
            differs from the trained one is logged as a warning and recorded in the
            manifest's ``provenance.training_patch_sizes``.
        random_init: export untrained, seeded weights instead of checkpoints.
        seed: seed of the random weights and of the parity inputs (default 0).
        overwrite: replace an existing package at ``out`` (atomically).
        relabel_levels: spine MR: record the level recount as the package's inference default
            (``manifest.postprocessing``; ``None``: record nothing, the pipeline's default applies).
            ``scripts/train_real.sh`` sets it: on the cross-validation over the ten real scans it
            removed every level shift (docs/training.md).

    Returns:
        The written package.

    Raises:
        InputError: unknown model/stage/preset/precision, bad labels or patch
            size, missing or unfitting checkpoints, an existing ``out``.
        ParityError: a graph differs from torch beyond tolerance (nothing written).
    """
    family = model_family(model)
    if relabel_levels is not None and family.task != "spine_mr":
        raise InputError(f"the level recount (relabel_levels) applies to spine MR models, not {family.name}")
    chosen_precisions = resolve_precisions(precisions)
    seed = DEFAULT_SEED if seed is None else int(seed)
    if random_init and checkpoints:
        raise InputError("give either checkpoints or --random-init, not both")
    if random_init:
        sources: dict[str, list[Path | None]] = {stage: [None] for stage in family.stage_names}
    else:
        if checkpoints is None:
            raise InputError(f"no checkpoints given; pass --checkpoint for each stage of {family.name} "
                             f"({', '.join(family.stage_names)}) or --random-init")
        sources = dict(resolve_checkpoints(family, checkpoints))
    trained = {stage: [read_training_metadata(path) for path in paths if path is not None]
               for stage, paths in sources.items()}
    everything = [record for records in trained.values() for record in records]
    if preset is None:
        preset = agreed(everything, "preset") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    trained_labels = agreed(everything, "labels")
    label_map = resolve_labels(family, labels if labels is not None else trained_labels)
    if labels is not None and trained_labels is not None and label_map != trained_labels:
        logger.warning("the labels given (%s) differ from the labels the checkpoints were trained with (%s)",
                       ", ".join(label_map.values()), ", ".join(trained_labels.values()))
    learned = {stage: agreed(records, "patch_size") for stage, records in trained.items()}
    sizes = resolve_patch_sizes(family, preset, patch_sizes, learned)
    out_path = Path(out)
    check_destination(out_path.absolute(), overwrite)

    networks = build_networks(family, preset, label_map, sizes, sources, seed, trained)  # bad checkpoints fail here

    with PackageWriter(out_path, overwrite=overwrite) as writer:
        stages: dict[str, Stage] = {}
        parity: list[dict[str, Any]] = []
        checkpoint_records: dict[str, list[dict[str, Any]]] = {}
        for recipe in family.stages:
            folds: list[FoldExport] = []
            for fold, (network, digest, _) in enumerate(networks[recipe.name]):
                folds.append(export_stage_fold(recipe, network, fold, chosen_precisions, sizes[recipe.name],
                                               writer.file, checkpoint_sha256=digest, seed=seed))
            parity += [record for fold_export in folds for record in fold_export.parity]
            checkpoint_records[recipe.name] = [
                {"fold": fold, "file": Path(source).name, "sha256": networks[recipe.name][fold][1],
                 "format": networks[recipe.name][fold][2]}
                for fold, source in enumerate(sources[recipe.name]) if source is not None
            ]
            first = networks[recipe.name][0][0]
            stages[recipe.name] = Stage(
                network=recipe.network,
                preset=preset,
                config={field: _jsonable(value) for field, value in network_config(first).items()},
                patch_size=sizes[recipe.name],
                inputs=folds[0].inputs,
                outputs=folds[0].outputs,
                graphs=tuple(graph for fold_export in folds for graph in fold_export.graphs),
                weights=tuple(fold_export.weights for fold_export in folds),
            )
        record = provenance(OPSET, seed if random_init else None, checkpoint_records, parity,
                            source_formats={stage: folds[0][2] for stage, folds in networks.items()
                                            if folds[0][2] is not None})
        record["training_patch_sizes"] = {stage: (None if size is None else list(size))
                                          for stage, size in learned.items()}
        manifest = Manifest(
            task=family.task,
            model=family.name,
            labels=label_map,
            preprocessing=_preprocessing(family, sizes, everything, _source_formats(networks)),
            stages=stages,
            provenance=record,
            postprocessing={} if relabel_levels is None else {"relabel_levels": bool(relabel_levels)},
        )
        return writer.commit(manifest)


#: one fold of a stage: the network with its weights, the checkpoint's sha256 and its source format
BuiltFold = tuple[torch.nn.Module, str | None, str | None]


def build_networks(
    family: ModelFamily,
    preset: str,
    labels: Mapping[int, str],
    patch_sizes: Mapping[str, tuple[int, ...]],
    sources: Mapping[str, Sequence[Path | None]],
    seed: int,
    trained: Mapping[str, Sequence[TrainingMetadata]] | None = None,
) -> dict[str, list[BuiltFold]]:
    """Every stage's networks, one per fold, with weights: ``{stage: [(network, sha256, source format)]}``.

    A ``None`` source means random weights (:func:`randomize_for_export`,
    batch norms calibrated on real-looking inputs); sha256 and format are
    then ``None``. A checkpoint in a foreign layout (the SSHSNet authors')
    is recognised by its keys; the network is built with the configuration
    that layout needs (:attr:`~spine_rt.models.authors_checkpoints.Layout.config`)
    and the weights renamed onto it. The folds of one stage must share one
    layout (the manifest records one configuration per stage).

    Raises:
        InputError: a checkpoint that does not fit (names the stage and file),
            a foreign checkpoint given for the other stage, or folds of one
            stage in different layouts.
    """
    networks: dict[str, list[BuiltFold]] = {}
    for stage_index, recipe in enumerate(family.stages):
        # what the network was trained with (widths, depths...), then what the package fixes
        overrides = dict(agreed((trained or {}).get(recipe.name, ()), "overrides") or {})
        overrides.update(recipe.config_overrides(len(labels), patch_sizes[recipe.name]))
        networks[recipe.name] = []
        for fold, source in enumerate(sources[recipe.name]):
            state, layout = None, None
            if source is not None:
                state, layout = _read_checkpoint(recipe.network, recipe.name, source)
            network = build(recipe.network, preset, **{**overrides, **(dict(layout.config) if layout else {})})
            if source is None:
                calibration = parity_inputs(recipe.network, network_config(network), patch_sizes[recipe.name],
                                            batch=CALIBRATION_BATCH, seed=seed + 1)
                randomize_for_export(network, seed=seed * 1000 + stage_index * 100 + fold,
                                     calibration_inputs=[torch.from_numpy(calibration[name])
                                                         for name in network.input_names])
                digest, source_format = None, None
            else:
                try:
                    source_format = load_checkpoint_format(network, state)
                except InputError as exc:
                    raise InputError(f"stage {recipe.name}, {source}: {exc}") from None
                digest = sha256_file(source)
            networks[recipe.name].append((network, digest, source_format))
        formats = sorted({str(fold[2]) for fold in networks[recipe.name]})
        if len(formats) > 1:
            raise InputError(f"stage {recipe.name}: the folds' checkpoints come in different layouts "
                             f"({', '.join(formats)}); export them as separate packages")
    return networks


def _read_checkpoint(network: str, stage: str, source: Path) -> tuple[dict[str, torch.Tensor], Layout | None]:
    """The weights of ``source`` and their foreign layout (``None``: spine-rt's names or unknown).

    Raises:
        InputError: unreadable, or a foreign checkpoint of another network (e.g. stage two's given as stage1).
    """
    try:
        state = read_state_dict(source)
    except InputError as exc:
        raise InputError(f"stage {stage}, {source}: {exc}") from None
    layout = checkpoint_layout(state)
    if layout is not None and layout.network != network:
        raise InputError(f"stage {stage}, {source}: this is the {layout.description}, not a {stage} checkpoint")
    return state, layout


def _source_formats(networks: Mapping[str, Sequence[BuiltFold]]) -> list[str]:
    """The source formats of the exported folds (``None`` for random weights left out)."""
    return [fold[2] for folds in networks.values() for fold in folds if fold[2] is not None]


def _preprocessing(family: ModelFamily, sizes: Mapping[str, tuple[int, ...]],
                   trained: Sequence[TrainingMetadata], source_formats: Sequence[str] = ()) -> dict[str, Any]:
    """The family's preprocessing, updated with what the checkpoints were trained with (spacings, value
    scaling) and with the inference choices of a foreign layout's authors (their stage-one upsampling)."""
    preprocessing = family.preprocessing(sizes)
    for layout in LAYOUTS:
        if layout.name in source_formats:
            preprocessing.update(layout.preprocessing)
    preprocessing.update(agreed(trained, "preprocessing") or {})
    value_scaling = agreed(trained, "value_scaling")
    if value_scaling is not None:
        preprocessing["value_scaling"] = value_scaling
    return preprocessing


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
