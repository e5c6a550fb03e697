"""``GridPrediction``: what a schedule returns for one volume on the model grid; mirroring TTA over it.

Test-time augmentation mirrors only the anterior-posterior in-plane axis
(``Y``, the columns of a sagittal slice). The superior-inferior axis (``X``)
is not: the labels name vertebral levels (L5, L4, ...), which a network
tells apart by their cranio-caudal order, so an upside-down spine has no
meaning for it. The slice axis is not in-plane. The whole two-stage
prediction is repeated on the mirrored volume (stage one sees mirrored
slices, its ROI is recomputed) and its probabilities are mirrored back
before averaging.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from spine_rt.pipelines.schedules.stage_two import labels_from_probabilities

#: counts that describe the volume, not work done: not added up over passes
NOT_ADDITIVE = frozenset({"stage_one_windows_per_slice", "voxels", "reference_patches_per_window", "slabs",
                          "slabs_with_stage_two"})
#: volume axes mirrored by ``tta=True``: Y (anterior <-> posterior)
MIRROR_AXES: tuple[int, ...] = (1,)


@dataclass
class GridPrediction:
    """Class probabilities (or only labels) on the network volume's grid and what it took to get them.

    Attributes:
        probabilities: ``(C, X, Y, Z)`` float32 (fused stage two / stage one),
            or None when only labels were kept (bounded memory).
        labels: ``(X, Y, Z)`` argmax when computed slab by slab, else None
            (then it is the argmax of ``probabilities``).
        counts: how much ran, e.g. ``stage_one_calls``, ``stage_one_slices``,
            ``stage_two_patches_run``, ``stage_two_patches_total``, ``stage_two_calls``.
        seconds: wall time per step (s), e.g. ``stage_one``, ``stage_two``, ``fusion``.
    """

    probabilities: np.ndarray | None
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    labels: np.ndarray | None = None

    def label_map(self) -> np.ndarray:
        """``(X, Y, Z)`` labels: :attr:`labels`, or the argmax of :attr:`probabilities`."""
        if self.labels is not None:
            return self.labels
        return labels_from_probabilities(self.probabilities)

    def add_counts_and_times(self, other: GridPrediction) -> None:
        """Add ``other``'s counts and times to this one's (for several passes over one scan)."""
        for key, value in other.counts.items():
            if key in NOT_ADDITIVE:
                self.counts[key] = value
            else:
                self.counts[key] = self.counts.get(key, 0) + value
        for key, value in other.seconds.items():
            self.seconds[key] = self.seconds.get(key, 0.0) + value


def predict_with_mirroring(predict: Callable[..., GridPrediction], volume: np.ndarray,
                           axes: Sequence[int] = MIRROR_AXES) -> GridPrediction:
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
