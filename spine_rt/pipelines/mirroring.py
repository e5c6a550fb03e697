"""Test-time augmentation by mirroring: predict on the mirrored volume too and average.

Only the anterior-posterior in-plane axis (``Y``, the columns of a sagittal
slice) is mirrored. The superior-inferior axis (``X``) is not: the labels
name vertebral levels (L5, L4, ...), which a network tells apart by their
cranio-caudal order, so an upside-down spine has no meaning for it. The
slice axis is not in-plane. The whole two-stage prediction is repeated on
the mirrored volume (stage one sees mirrored slices, its ROI is recomputed)
and its probabilities are mirrored back before averaging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spine_rt.pipelines.grid_prediction import GridPrediction

#: volume axes mirrored by ``tta=True``: Y (anterior <-> posterior)
MIRROR_AXES: tuple[int, ...] = (1,)


def predict_with_mirroring(
    predict: Callable[..., GridPrediction],
    volume: np.ndarray,
    axes: Sequence[int] = MIRROR_AXES,
) -> GridPrediction:
    """The mean of ``predict(volume)`` and ``predict`` on ``volume`` mirrored along each of ``axes``.

    Args:
        predict: ``(volume (X, Y, Z), keep_probabilities=True)`` -> :class:`GridPrediction`
            with ``(C, X, Y, Z)`` probabilities.
        volume: the prepared volume.
        axes: volume axes to mirror, one extra prediction each.

    Returns:
        averaged probabilities; counts and times are the sums over all passes.
    """
    combined = predict(volume, keep_probabilities=True)
    for axis in axes:
        mirrored = predict(np.ascontiguousarray(np.flip(volume, axis)), keep_probabilities=True)
        combined.probabilities += np.flip(mirrored.probabilities, axis + 1)
        combined.add_counts_and_times(mirrored)
    combined.probabilities /= 1 + len(axes)
    combined.counts["tta_passes"] = 1 + len(axes)
    return combined
