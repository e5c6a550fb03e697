"""Dice of trained stages on held-out scans, through the real inference pipeline.

:func:`evaluate_two_stage` rebuilds both networks from their training
checkpoints, wraps them in the spine MR pipeline
(:func:`spine_rt.pipelines.pipeline_from_modules`: the checkpoint's
preprocessing, stage one over every slice, stage two in sliding windows
near stage one's foreground, fusion, the exact inverse back to the scan's
grid) and scores each scan's labels against its label file at the scan's
original resolution (SEEDS' metric, :mod:`spine_rt.train.validation`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from spine_rt.io import read_image
from spine_rt.pipelines import pipeline_from_modules
from spine_rt.pipelines.preprocessing import MrPreprocessing
from spine_rt.train.checkpoints import network_from_checkpoint, read_training_checkpoint
from spine_rt.train.label_map import check_label_ids, label_map_from_checkpoint
from spine_rt.train.scan_pairs import find_labelled_scans
from spine_rt.train.validation import ValidationDice, dice_per_class, summarize_dice


def evaluate_two_stage(
    stage_one_checkpoint: str | os.PathLike[str],
    stage_two_checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    device: str = "cpu",
    stage_one_patch: Sequence[int] | None = None,
    **pipeline_options,
) -> ValidationDice:
    """Segment every ``NAME_image`` of ``data`` and score it against ``NAME_label``.

    Args:
        stage_one_checkpoint / stage_two_checkpoint: training checkpoints (``best.pt``).
        data: folder of held-out image/label pairs.
        device: ``"cpu"`` or ``"cuda"``.
        stage_one_patch: stage one's window on its grid (default: the training crop).
        pipeline_options: further options of the pipeline (``overlap``, ``roi``, ``tta``, ...).

    Raises:
        InputError: unreadable checkpoints or scans, labels outside the label map.
    """
    first = read_training_checkpoint(stage_one_checkpoint, "stage1")
    second = read_training_checkpoint(stage_two_checkpoint, "stage2")
    label_map = label_map_from_checkpoint(second["labels"])
    patch = tuple(stage_one_patch) if stage_one_patch is not None else tuple(first["settings"]["crop_size"])
    pipeline = pipeline_from_modules(
        network_from_checkpoint(first).eval(),
        network_from_checkpoint(second).eval(),
        stage_one_patch=patch,
        device=device,
        labels=label_map,
        preprocessing=MrPreprocessing.from_manifest(second["preprocessing"]),
        **pipeline_options,
    )
    per_scan = {}
    with pipeline:
        for pair in find_labelled_scans(data):
            truth = read_image(pair.label).array  # type: ignore[arg-type]
            check_label_ids(truth, label_map, str(pair.label))
            result = pipeline(Path(pair.image))
            per_scan[pair.name] = dice_per_class(result.labels.astype("int64"), truth.astype("int64"), len(label_map))
    return summarize_dice(per_scan, label_map)
