"""The 95th-percentile Hausdorff distance of two masks, in mm, with SciPy's distance transform.

The definition is MONAI's ``compute_hausdorff_distance(percentile=95)``
(symmetric): the edge voxels of each mask are the mask minus its binary
erosion; for every edge voxel of one mask the distance to the nearest edge
voxel of the other is read from :func:`scipy.ndimage.distance_transform_edt`
with the voxel size as ``sampling``; the result is the larger of the two
directions' 95th percentiles. Both masks empty gives 0; one empty gives
``None`` (no finite distance). The voxel size is taken from the affine
(column norms), which is exact for orthogonal voxel axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

HAUSDORFF_PERCENTILE = 95.0


def voxel_spacing(affine: np.ndarray) -> tuple[float, ...]:
    """The voxel size (mm) along each array axis of a ``(4, 4)`` affine: the norms of its first three columns."""
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    return tuple(float(v) for v in np.linalg.norm(matrix, axis=0))


def _edges(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def hausdorff_distance_95(first: np.ndarray, second: np.ndarray, spacing: Sequence[float]) -> float | None:
    """Symmetric 95th-percentile Hausdorff distance (mm) between two boolean masks of one shape.

    Args:
        first, second: boolean masks ``(X, Y, Z)`` (any rank).
        spacing: voxel size per axis, mm.

    Returns:
        The distance in mm; 0.0 when both masks are empty, ``None`` when exactly one is.
    """
    a = np.asarray(first, dtype=bool)
    b = np.asarray(second, dtype=bool)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return None
    # work inside the two masks' joint bounding box (plus one voxel) to keep the transforms small
    both = np.argwhere(a | b)
    low = np.maximum(both.min(axis=0) - 1, 0)
    high = both.max(axis=0) + 2
    box = tuple(slice(int(s), int(e)) for s, e in zip(low, high))
    edges_a, edges_b = _edges(a[box]), _edges(b[box])
    to_b = ndimage.distance_transform_edt(~edges_b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~edges_a, sampling=spacing)
    forward = np.percentile(to_b[edges_a], HAUSDORFF_PERCENTILE)
    backward = np.percentile(to_a[edges_b], HAUSDORFF_PERCENTILE)
    return float(max(forward, backward))
