"""Partial-volume rendering of sagittal solids on a stack of thick sagittal slices.

The grid has voxel axes ``(X, Y, Z)`` = (sagittal slice, left -> right;
superior -> inferior; anterior -> posterior) with spacing ``(sx, sy, sz)``
mm; voxel ``(i, j, k)`` has its centre at lateral position ``i * sx``,
``si = j * sy`` and ``ap = k * sz`` (mm). Each slice is a slab ``sx`` thick.

The fraction of a voxel that a solid fills is the product of

* the in-plane coverage of its pixel, from the signed distance to the
  rounded sagittal outline (a box filter one pixel wide), and
* the exact fraction of the slab ``[x - sx/2, x + sx/2]`` that lies inside
  the solid's left-right extent ``[c - w, c + w]`` at that pixel,

so thick slices get the large partial volume they have in real scans.
Everything is computed inside the solid's bounding box only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spine_rt.phantoms.sagittal_solid import SagittalSolid


@dataclass(frozen=True)
class SliceStack:
    """The voxel grid: ``shape`` ``(X, Y, Z)``, ``spacing`` mm, and the lateral
    position (mm, from the centre of slice 0) of the spine's midline."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    midline_mm: float


@dataclass(frozen=True)
class Footprint:
    """Where and how much a solid fills the grid.

    ``window`` indexes the ``(X, Y, Z)`` sub-block; ``occupancy`` (float32,
    that block's shape) is the filled fraction in [0, 1]; ``distance`` and
    ``fraction`` ``(Y', Z')`` are the solid's signed distance (mm) and axis
    fraction; ``lateral_mm`` ``(X', 1, 1)`` are the slice centres relative to
    the solid's left-right centre; ``ap`` ``(1, Z')`` and ``si`` ``(Y', 1)``
    the window's pixel centres (mm).
    """

    window: tuple[slice, slice, slice]
    occupancy: np.ndarray
    distance: np.ndarray
    fraction: np.ndarray
    lateral_mm: np.ndarray
    ap: np.ndarray
    si: np.ndarray


def _index_range(low_mm: float, high_mm: float, step: float, count: int) -> tuple[int, int]:
    start = max(0, math.floor(low_mm / step))
    stop = min(count, math.ceil(high_mm / step) + 1)
    return start, stop


def footprint(stack: SliceStack, solid: SagittalSolid) -> Footprint | None:
    """The solid's footprint on the grid, or ``None`` when it misses the grid."""
    n_slices, n_rows, n_cols = stack.shape
    thickness, row_mm, col_mm = stack.spacing
    pixel = 0.5 * (row_mm + col_mm)
    ap_min, ap_max, si_min, si_max = solid.bounds(margin=pixel)
    row_start, row_stop = _index_range(si_min, si_max, row_mm, n_rows)
    col_start, col_stop = _index_range(ap_min, ap_max, col_mm, n_cols)
    centre = stack.midline_mm + solid.lateral_offset_mm
    reach = solid.half_width_mm + 0.5 * thickness
    slice_start, slice_stop = _index_range(centre - reach, centre + reach, thickness, n_slices)
    if row_start >= row_stop or col_start >= col_stop or slice_start >= slice_stop:
        return None
    si = (np.arange(row_start, row_stop, dtype=np.float32) * np.float32(row_mm))[:, None]
    ap = (np.arange(col_start, col_stop, dtype=np.float32) * np.float32(col_mm))[None, :]
    distance = solid.signed_distance(ap, si)
    coverage = np.clip(0.5 - distance * (1.0 / pixel), 0.0, 1.0)
    if not coverage.any():
        return None
    fraction = solid.axis_fraction(ap, si)
    half_width = solid.half_width(distance, fraction, 0.5 * pixel)
    lateral = (np.arange(slice_start, slice_stop, dtype=np.float32) * np.float32(thickness) - np.float32(centre))[:, None, None]
    half_slab = 0.5 * thickness
    overlap = np.minimum(lateral + half_slab, half_width[None]) - np.maximum(lateral - half_slab, -half_width[None])
    occupancy = np.clip(overlap * (1.0 / thickness), 0.0, 1.0) * coverage[None]
    window = (slice(slice_start, slice_stop), slice(row_start, row_stop), slice(col_start, col_stop))
    return Footprint(window, occupancy.astype(np.float32, copy=False), distance, fraction, lateral, ap, si)
