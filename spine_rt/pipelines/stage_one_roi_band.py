"""The ROI for a band of stage-two window rows, from the stage-one foreground of nearby rows only.

:func:`~spine_rt.pipelines.stage_one_roi.stage_one_roi` dilates the whole
foreground by ``margin_mm`` (Euclidean, on stage one's grid). A voxel of
half-resolution row ``r`` lies in the ROI iff a foreground voxel lies within
``margin_mm`` of it, and such a voxel is at most ``floor(margin / sx)`` rows
away. So the ROI of rows ``[a, b)`` is the dilation of the foreground of rows
``[a - m, b + m)`` (``m`` from :func:`~spine_rt.pipelines.slab_plan.roi_margin_rows`)
cropped back to ``[a, b)``: the same mask as the whole-volume ROI, computed
when only those rows of stage one are final. It runs on the host (scipy),
on the foreground copied back from the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from spine_rt.pipelines.slab_plan import SlabPlan


def roi_rows(foreground: np.ndarray, rows: slice, spacing_mm: Sequence[float], margin_mm: float,
             margin_rows: int) -> np.ndarray:
    """The ROI ``(n, Y/f, Z)`` bool on half-resolution rows ``rows``.

    Args:
        foreground: ``(X/f, Y/f, Z)`` bool, stage one's foreground; final on rows
            ``[rows.start - margin_rows, rows.stop + margin_rows)`` (clipped to the volume).
        rows: the rows wanted.
        spacing_mm: stage one's voxel size ``(sx, sy, sz)`` in mm.
        margin_mm: dilation radius in mm.
        margin_rows: rows the dilation can reach.
    """
    band = slice(max(rows.start - margin_rows, 0), min(rows.stop + margin_rows, foreground.shape[0]))
    part = foreground[band]
    if not part.any() or margin_mm <= 0:  # no foreground near: nothing (as far from any foreground)
        return foreground[rows].copy()
    distance = ndimage.distance_transform_edt(~part, sampling=tuple(float(s) for s in spacing_mm))
    return (distance <= margin_mm)[rows.start - band.start: rows.stop - band.start]


def windows_in_roi(plan: SlabPlan, rows: range, foreground: np.ndarray | None, spacing_mm: Sequence[float],
                   margin_mm: float) -> np.ndarray:
    """C-order indices of the windows of stage-two window rows ``rows`` that touch the ROI.

    ``foreground`` ``None``: no ROI, every window of those rows. A window touches
    the ROI when any half-resolution voxel whose ``f x f`` block meets the
    window's box is in it (the host repeats the half-resolution ROI ``f``
    times in-plane; this is the same test).
    """
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    windows = np.concatenate([plan.stage_two_row_windows(r) for r in rows])
    if foreground is None:
        return windows
    grid, factor = plan.stage_two_grid, plan.factor
    starts = grid.window_starts()[windows]
    patch = np.asarray(grid.patch_size)
    first_x = int(starts[:, 0].min()) // factor
    stop_x = -(-int(starts[:, 0].max() + patch[0]) // factor)
    roi = roi_rows(foreground, slice(first_x, stop_x), spacing_mm, margin_mm, plan.margin_rows or 0)
    chosen = []
    for window, start in zip(windows, starts):
        x0, y0 = start[0] // factor - first_x, start[1] // factor
        x1, y1 = -(-(start[0] + patch[0]) // factor) - first_x, -(-(start[1] + patch[1]) // factor)
        if roi[x0:x1, y0:y1, start[2]:start[2] + patch[2]].any():
            chosen.append(window)
    return np.asarray(chosen, np.int64)
