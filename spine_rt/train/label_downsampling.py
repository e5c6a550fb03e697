"""Label maps at stage one's resolution: the majority label of each ``f x f`` in-plane block.

The pipeline gives stage one the block mean of ``f x f`` full-resolution
voxels (:func:`spine_rt.pipelines.schedules.sampling.downsample_in_plane`);
the matching training target is the most frequent label in the same block
(ties go to the smaller id).
"""

from __future__ import annotations

import numpy as np


def downsample_labels_in_plane(labels: np.ndarray, factor: int) -> np.ndarray:
    """``(X, Y, Z)`` labels -> ``(X/f, Y/f, Z)`` uint8/uint16 majority labels.

    ``X`` and ``Y`` must be multiples of ``factor``.
    """
    if factor == 1:
        return labels
    size_x, size_y, size_z = labels.shape
    blocks = labels.reshape(size_x // factor, factor, size_y // factor, factor, size_z)
    best = np.zeros((size_x // factor, size_y // factor, size_z), labels.dtype)
    best_count = np.zeros(best.shape, np.int16)
    for class_id in np.unique(labels):
        count = (blocks == class_id).sum(axis=(1, 3), dtype=np.int16)
        better = count > best_count
        best[better] = class_id
        best_count[better] = count[better]
    return best
