"""Label agreement between two segmentations: Dice per structure and its mean (SEEDS' metric).

For each structure (label > 0) present in *either* map, Dice =
``2 |A ∩ B| / (|A| + |B|)``; the agreement is the mean over those
structures. Two maps without any structure agree perfectly (1.0).
"""

from __future__ import annotations

import numpy as np

from spine_rt.errors import InputError


def dice_per_structure(first: np.ndarray, second: np.ndarray) -> dict[int, float]:
    """Dice of every label > 0 present in either integer map (same shape).

    Raises:
        InputError: the maps differ in shape.
    """
    a = np.asarray(first)
    b = np.asarray(second)
    if a.shape != b.shape:
        raise InputError(f"label maps of different shapes: {a.shape} and {b.shape}")
    size = int(max(a.max(initial=0), b.max(initial=0))) + 1
    a_flat = a.ravel().astype(np.int64)
    b_flat = b.ravel().astype(np.int64)
    count_a = np.bincount(a_flat, minlength=size)
    count_b = np.bincount(b_flat, minlength=size)
    both = np.bincount(a_flat[a_flat == b_flat], minlength=size)
    return {label: 2.0 * float(both[label]) / float(count_a[label] + count_b[label])
            for label in range(1, size) if count_a[label] + count_b[label] > 0}


def mean_dice(first: np.ndarray, second: np.ndarray) -> float:
    """Mean Dice over the structures present in either map (1.0 when neither has any).

    Raises:
        InputError: the maps differ in shape.
    """
    per_structure = dice_per_structure(first, second)
    if not per_structure:
        return 1.0
    return float(np.mean(list(per_structure.values())))
