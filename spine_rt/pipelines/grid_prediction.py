"""``GridPrediction``: what a schedule returns for one volume on the model grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spine_rt.pipelines.fusion import labels_from_probabilities

#: counts that describe the volume, not work done: not added up over passes
NOT_ADDITIVE = frozenset({"stage_one_windows_per_slice", "voxels", "reference_patches_per_window"})


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
