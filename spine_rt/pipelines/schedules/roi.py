"""Where stage two runs: stage one's foreground, dilated by a margin in mm (the splitter's ROI filter).

Stage one's argmax over the fold-averaged probabilities marks the voxels it
believes belong to a structure (any class but background). That mask is
dilated by ``margin_mm`` (a Euclidean distance in mm on stage one's
anisotropic grid, so a margin of 20 mm reaches 29 voxels in-plane at
0.69 mm but only 4 slices at 4.4 mm) and brought to full resolution. Stage
two runs every window that touches the result; everywhere else stage one's
answer is kept. The margin covers what stage one misses at the edge of a
structure and gives stage two context around it.

The fast schedule asks, band by band (:func:`windows_in_roi`), which windows
lie within ``margin_mm`` of a foreground voxel: a window's rows are at most
``margin_rows`` half-resolution rows from any foreground voxel that can
reach it, so the band of rows ``[a - m, b + m)`` decides the windows of rows
``[a, b)`` as soon as those rows of stage one are final. It decides exactly
what dilating the whole mask (:func:`stage_one_roi`) and asking the
splitter's ROI filter (:func:`spine_rt.patching.windows_touching`) decides,
without making the dilated mask (:func:`windows_near_foreground`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from spine_rt.patching import PatchGrid
from spine_rt.patching.grid import box_counts, summed_area_table

#: default ROI margin around stage one's foreground (mm)
DEFAULT_ROI_MARGIN_MM = 20.0


def stage_one_roi(
    probabilities: np.ndarray,
    spacing_mm: Sequence[float],
    margin_mm: float,
    resolution_factor: int,
) -> np.ndarray:
    """The full-resolution region of interest ``(X, Y, Z)`` bool.

    Args:
        probabilities: ``(C, X/f, Y/f, Z)`` stage-one probabilities (fold mean), class 0 background.
        spacing_mm: stage one's voxel size ``(sx, sy, sz)`` in mm.
        margin_mm: dilation radius in mm (0: the foreground itself).
        resolution_factor: ``f``; each stage-one voxel covers ``f x f`` full-resolution voxels.

    Returns:
        all False when stage one found no foreground (then stage two does not run).
    """
    # argmax != 0, i.e. some structure beats the background strictly (ties go to background, as argmax's
    # first index); a max over channels is a contiguous reduction, ~15x faster than a strided argmax
    foreground = probabilities[1:].max(axis=0) > probabilities[0]
    if foreground.any() and margin_mm > 0:
        distance = ndimage.distance_transform_edt(~foreground, sampling=tuple(float(s) for s in spacing_mm))
        foreground = distance <= margin_mm
    if resolution_factor > 1:
        foreground = np.repeat(np.repeat(foreground, resolution_factor, axis=0), resolution_factor, axis=1)
    return foreground


def windows_in_roi(plan: Any, rows: range, foreground: np.ndarray | None, spacing_mm: Sequence[float],
                   margin_mm: float) -> np.ndarray:
    """C-order indices of the windows of stage-two window rows ``rows`` of ``plan``
    (:class:`~spine_rt.pipelines.schedules.slabs.SlabPlan`) that touch the ROI.

    ``foreground`` ``(X/f, Y/f, Z)`` bool (final on the rows these windows
    and the margin reach), ``None``: no ROI, every window of those rows. A window touches the ROI iff it
    touches the half-resolution ROI repeated ``f`` times in-plane (as :func:`stage_one_roi` makes it): the
    windows' boxes start and end on whole stage-one voxels (starts aligned to ``4f``, patches and sizes
    multiples of it), so the test runs on stage one's grid (:func:`windows_near_foreground`).
    """
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    windows = np.concatenate([plan.stage_two_row_windows(r) for r in rows])
    if foreground is None:
        return windows
    grid, factor = plan.stage_two_grid, plan.factor
    starts = grid.window_starts()[windows]
    first = int(starts[:, 0].min()) // factor
    stop = -(-int(starts[:, 0].max() + grid.patch_size[0]) // factor)
    margin_rows = plan.margin_rows or 0
    band = slice(max(first - margin_rows, 0), min(stop + margin_rows, foreground.shape[0]))
    return windows_near_foreground(plan.stage_two_grid_on_stage_one, windows, foreground[band], band.start,
                                   spacing_mm, margin_mm)


def windows_near_foreground(grid: PatchGrid, windows: np.ndarray, foreground: np.ndarray, first_row: int,
                            spacing_mm: Sequence[float], margin_mm: float) -> np.ndarray:
    """The windows among ``windows`` of ``grid`` whose box holds a voxel within ``margin_mm`` of ``foreground``.

    The same windows as dilating the foreground with a Euclidean distance transform
    (:func:`stage_one_roi`) and asking which windows touch the result, without the
    transform's volume-sized buffers (its feature indices and float64 distances, about 60 bytes per
    stage-one voxel): a box is within ``margin_mm`` of a foreground voxel ``p`` iff the box's voxel
    nearest to ``p`` is (per axis, ``p`` clamped into the box), with the distance computed as the
    transform computes it. Boxes with foreground inside, or none within ``margin / spacing`` voxels
    per axis, are decided by a summed-area table; only the rest look at their foreground voxels.

    Args:
        grid: the windows on stage one's grid ``(X/f, Y/f, Z)``.
        windows: C-order indices into ``grid``.
        foreground: ``(n, Y/f, Z)`` bool, rows ``[first_row, first_row + n)`` of the grid's image: every
            row within the margin of the windows' boxes (clipped to the image).
        first_row: the image row of ``foreground[0]``.
        spacing_mm: stage one's voxel size ``(sx, sy, sz)`` in mm.
        margin_mm: the ROI margin (0: the foreground itself).
    """
    windows = np.asarray(windows, np.int64)
    if len(windows) == 0 or not foreground.any():
        return windows[:0]
    _, lo, hi = grid.window_boxes()
    lo, hi = lo[windows].copy(), hi[windows].copy()
    lo[:, 0] -= first_row
    hi[:, 0] -= first_row
    if lo[:, 0].min() < 0 or hi[:, 0].max() > foreground.shape[0]:
        raise ValueError("the foreground band does not hold the windows' rows")
    table = summed_area_table(foreground)
    inside = box_counts(table, lo, hi) > 0
    if margin_mm <= 0:
        return windows[inside]
    spacing = np.asarray([float(s) for s in spacing_mm], np.float64)
    reach = np.floor(margin_mm / spacing).astype(np.int64)  # voxels per axis a margin can span
    shape = np.asarray(foreground.shape)
    near_lo, near_hi = np.maximum(lo - reach, 0), np.minimum(hi + reach, shape)
    touching = inside.copy()
    for index in np.flatnonzero(~inside & (box_counts(table, near_lo, near_hi) > 0)):
        box = tuple(slice(int(a), int(b)) for a, b in zip(near_lo[index], near_hi[index]))
        points = np.argwhere(foreground[box]) + near_lo[index]
        offset = (np.maximum(lo[index] - points, 0) + np.maximum(points - (hi[index] - 1), 0)).astype(np.float64)
        offset *= spacing  # then squared and summed over the axes in order, as the distance transform does
        offset *= offset
        touching[index] = bool((np.sqrt(np.add.reduce(offset, axis=1)) <= margin_mm).any())
    return windows[touching]
