"""Which structures a label map holds, with voxel (pixel) counts and volumes in mm3 (areas in mm2 for 2D maps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def structures_found(labels: np.ndarray, spacing_mm: Sequence[float] | None,
                     names: Mapping[int, str]) -> list[dict[str, Any]]:
    """One entry per label present (background 0 left out), by label id.

    Args:
        labels: ``(I, J, K)`` integer label map on the input grid, or an
            ``(H, W)`` X-ray label map.
        spacing_mm: voxel size of that grid (mm; ``(row, column)`` for 2D),
            or None for a 2D map of unknown pixel size.
        names: label id -> structure name (ids without a name are called ``label N``).

    Returns:
        3D: ``[{"label": 2, "name": "L5", "voxels": 1234, "volume_mm3": 567.8}, ...]``;
        2D: ``[{"label": 1, "name": "vertebra", "pixels": 1234, "area_mm2": 98.7 or None}, ...]``.

    Raises:
        ValueError: a map that is neither 2D nor 3D, or a spacing of the wrong length.
    """
    if labels.ndim not in (2, 3):
        raise ValueError(f"a label map must be 2D or 3D, got shape {labels.shape}")
    element_size = None
    if spacing_mm is not None:
        sizes = [float(s) for s in spacing_mm]
        if len(sizes) != labels.ndim:
            raise ValueError(f"spacing {tuple(sizes)} does not fit a {labels.ndim}D label map")
        element_size = float(np.prod(sizes))
    elif labels.ndim == 3:
        raise ValueError("a 3D label map needs its voxel spacing")
    count_key, size_key = ("voxels", "volume_mm3") if labels.ndim == 3 else ("pixels", "area_mm2")
    counts = np.bincount(labels.reshape(-1).astype(np.int64))
    found = []
    for label in np.flatnonzero(counts):
        if label == 0:
            continue
        count = int(counts[label])
        found.append({
            "label": int(label),
            "name": names.get(int(label), f"label {int(label)}"),
            count_key: count,
            size_key: None if element_size is None else round(count * element_size, 3),
        })
    return found
