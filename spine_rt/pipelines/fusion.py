"""Fusion of the two stages: stage two where it ran, stage one elsewhere, then argmax.

Stage two runs only on windows near stage one's foreground. A voxel inside
a window that ran takes stage two's blended probabilities; any other voxel
takes stage one's probabilities (fold mean, brought to full resolution).
Nothing is mixed inside a voxel, so the label of a voxel is the argmax of
exactly one stage.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: rows of ``X`` fused at a time (bounds the full-resolution stage-one slab in memory)
FUSION_SLAB_ROWS = 64


def fuse_probabilities(
    stage_two: np.ndarray | None,
    covered: np.ndarray,
    stage_one_rows: Callable[[slice], np.ndarray],
    slab_rows: int = FUSION_SLAB_ROWS,
) -> np.ndarray:
    """Stage two's probabilities where ``covered``, stage one's elsewhere: ``(C, X, Y, Z)`` float32.

    Args:
        stage_two: ``(C, X, Y, Z)`` stage-two probabilities (values outside
            ``covered`` are ignored), or ``None`` when stage two did not run.
            It is overwritten in place and returned.
        covered: ``(X, Y, Z)`` bool, where stage two ran.
        stage_one_rows: ``rows -> (C, len(rows), Y, Z)`` stage-one probabilities
            at full resolution for rows ``rows`` of ``X`` (called only for rows
            with uncovered voxels, ``slab_rows`` at a time).
        slab_rows: rows fused per step.
    """
    size_x = covered.shape[0]
    fused = stage_two
    for first in range(0, size_x, slab_rows):
        rows = slice(first, min(first + slab_rows, size_x))
        if covered[rows].all():
            continue
        if fused is None:
            fused = np.empty((stage_one_rows(slice(0, 1)).shape[0], *covered.shape), np.float32)
        fuse_rows(fused[:, rows], covered[rows], lambda: stage_one_rows(rows))
    if fused is None:  # covered everywhere but stage two missing: cannot happen for a non-empty volume
        raise ValueError("fuse_probabilities: stage two did not run and no voxel is uncovered")
    return fused


def fuse_rows(stage_two_rows: np.ndarray, covered_rows: np.ndarray, stage_one_rows: Callable[[], np.ndarray]) -> None:
    """In place: ``stage_two_rows`` ``(C, n, Y, Z)`` takes stage one's values where ``covered_rows`` is False.

    ``stage_one_rows()`` gives stage one's ``(C, n, Y, Z)`` for the same rows;
    it is called only when some voxel is uncovered.
    """
    outside = ~covered_rows
    if outside.any():
        np.copyto(stage_two_rows, stage_one_rows(), where=outside[None])


def labels_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``(C, X, Y, Z)`` -> ``(X, Y, Z)`` argmax, uint8 (uint16 for more than 256 classes)."""
    dtype = np.uint8 if probabilities.shape[0] <= 256 else np.uint16
    return probabilities.argmax(axis=0).astype(dtype)
