"""Which structures a label map holds, with voxel counts and volumes (mm3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def structures_found(labels: np.ndarray, spacing_mm: Sequence[float], names: Mapping[int, str]) -> list[dict[str, Any]]:
    """One entry per label present (background 0 left out), by label id.

    Args:
        labels: ``(I, J, K)`` integer label map on the input grid.
        spacing_mm: voxel size of that grid (mm).
        names: label id -> structure name (ids without a name are called ``label N``).

    Returns:
        ``[{"label": 2, "name": "L5", "voxels": 1234, "volume_mm3": 567.8}, ...]``.
    """
    voxel_mm3 = float(np.prod([float(s) for s in spacing_mm]))
    counts = np.bincount(labels.reshape(-1).astype(np.int64))
    found = []
    for label in np.flatnonzero(counts):
        if label == 0:
            continue
        voxels = int(counts[label])
        found.append({
            "label": int(label),
            "name": names.get(int(label), f"label {int(label)}"),
            "voxels": voxels,
            "volume_mm3": round(voxels * voxel_mm3, 3),
        })
    return found
