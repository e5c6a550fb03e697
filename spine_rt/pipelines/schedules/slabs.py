"""``SlabPlan``: the fast schedule cut into slabs of rows along ``X`` (superior -> inferior).

Stage one's 2D windows tile every slice in window rows along ``X`` (its
:class:`~spine_rt.patching.PatchGrid` on the half-resolution slice). Once
every window of stage-one window row ``k`` has run (on every slice, every
fold), no later window touches half-resolution rows ``< start[k + 1]``: the
stage-one maps of those rows are *final*. Slab ``k`` is

* stage one: the stage-one batches up to the one holding the last window of
  window row ``k`` (batches keep the host schedule's global order and
  composition, so a batch may already hold windows of row ``k + 1``);
* stage two: the stage-two window rows (windows sharing a start along ``X``)
  whose every read of stage one lies in rows final after slab ``k`` and not
  earlier: the full-resolution probabilities of the patch (linear
  interpolation from stride ``f``), the 1/4-resolution features (from stride
  ``4f``) and, with the ROI on, stage one's foreground within the ROI margin
  (``floor(margin / spacing_x) + 1`` half-resolution rows around the patch).

On a GPU, stage one of slab ``k + 1`` then runs on one CUDA stream while
stage two of slab ``k`` runs on another. When a stage-one window covers most
of a slice's height (``X/f`` hardly larger than the window), the first slabs
unlock no stage-two rows and the plan degenerates to one effective slab; see
:meth:`SlabPlan.describe`.

Rows are indices along ``X``: full resolution for stage two and the volume,
half resolution (stride ``f``) for stage one. Pure python/numpy, no torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid
from spine_rt.pipelines.schedules.maps import STAGE_TWO_FEATURE_STRIDE
from spine_rt.pipelines.schedules.stage_one import STAGE_ONE_FEATURE_STRIDE, STAGE_ONE_OVERLAP


def source_rows_read(first: int, count: int, source_stride: int, target_stride: int, length: int) -> int:
    """Stop (exclusive) of the source rows that linear interpolation of target rows
    ``[first / target_stride, ... + count)`` reads (the conventions of ``in_plane_sampling``).

    ``first`` is the full-resolution position where the target box begins; the
    source grid has ``length`` rows of stride ``source_stride``.
    """
    last_centre = first + target_stride * (count - 1) + (target_stride - 1) / 2.0
    position = (last_centre - (source_stride - 1) / 2.0) / source_stride
    high = math.floor(position) + 1
    return int(min(max(high, 0), length - 1)) + 1


def roi_margin_rows(margin_mm: float, spacing_x_mm: float) -> int:
    """Half-resolution rows along ``X`` that the ROI dilation by ``margin_mm`` can reach (0 without margin)."""
    if margin_mm <= 0:
        return 0
    return int(math.floor(margin_mm / spacing_x_mm)) + 1


@dataclass(frozen=True)
class SlabPlan:
    """Which work runs in which slab (see the module docstring).

    Attributes:
        shape: full-resolution volume ``(X, Y, Z)``.
        factor: ``f``, full-resolution voxels per stage-one voxel in-plane.
        stage_one_grid: stage one's windows on the half-resolution slice ``(X/f, Y/f)``.
        stage_two_grid: stage two's windows on ``(X, Y, Z)``.
        slices: ``Z`` (stage one's images per window).
        stage_one_batch_size / stage_two_batch_size: windows per call.
        stage_one_batches: per slab, the stage-one batch indices it runs (global order).
        stage_one_final: per slab, half-resolution rows ``[0, n)`` whose stage-one maps are final after it.
        stage_two_rows: per slab, the indices of the stage-two window rows it unlocks.
        stage_two_needs: per stage-two window row, the half-resolution row stop it reads.
        margin_rows: ROI margin in half-resolution rows (``None`` with the ROI off).
    """

    shape: tuple[int, int, int]
    factor: int
    stage_one_grid: PatchGrid
    stage_two_grid: PatchGrid
    slices: int
    stage_one_batch_size: int
    stage_two_batch_size: int
    stage_one_batches: tuple[range, ...]
    stage_one_final: tuple[int, ...]
    stage_two_rows: tuple[range, ...]
    stage_two_needs: tuple[int, ...]
    margin_rows: int | None

    @classmethod
    def build(
        cls,
        shape: Sequence[int],
        factor: int,
        stage_one_patch: Sequence[int],
        stage_two_patch: Sequence[int],
        stage_one_batch_size: int,
        stage_two_batch_size: int,
        overlap: float,
        margin_rows: int | None,
        sliced: bool = True,
    ) -> SlabPlan:
        """Plan the slabs of a volume of full-resolution ``shape`` ``(X, Y, Z)``.

        Args:
            shape: ``(X, Y, Z)``, in-plane multiples of ``4f``, at least one stage-two patch.
            factor: ``f``.
            stage_one_patch: stage one's window ``(px, py)`` at half resolution.
            stage_two_patch: stage two's patch ``(px, py, pz)``.
            stage_one_batch_size / stage_two_batch_size: windows per call.
            overlap: overlap of stage-two windows.
            margin_rows: ROI margin in half-resolution rows (:func:`roi_margin_rows`), ``None`` without ROI.
            sliced: ``False`` puts everything in one slab (the unsliced order).

        Raises:
            InputError: sizes that are not multiples of ``4f`` or smaller than the stage-two patch.
        """
        size_x, size_y, size_z = (int(s) for s in shape)
        step = factor * STAGE_ONE_FEATURE_STRIDE
        if size_x % step or size_y % step:
            raise InputError(f"the device fast schedule needs in-plane sizes that are multiples of {step}, "
                             f"got {(size_x, size_y)}")
        patch_two = tuple(int(p) for p in stage_two_patch)
        if any(n < p for n, p in zip((size_x, size_y, size_z), patch_two)):
            raise InputError(f"stage two: volume {(size_x, size_y, size_z)} is smaller than the patch {patch_two}; "
                             "pad it first")
        half = (size_x // factor, size_y // factor)
        grid_one = PatchGrid.plan(half, tuple(int(p) for p in stage_one_patch), overlap=STAGE_ONE_OVERLAP,
                                  alignment=STAGE_ONE_FEATURE_STRIDE)
        grid_two = PatchGrid.plan((size_x, size_y, size_z), patch_two, overlap=overlap, alignment=(step, step, 1))

        rows_one = grid_one.axis_starts[0]
        windows_per_row = len(grid_one) // len(rows_one)
        items_total = len(grid_one) * size_z
        batches_total = math.ceil(items_total / stage_one_batch_size)
        finals = [rows_one[k + 1] if k + 1 < len(rows_one) else half[0] for k in range(len(rows_one))]
        batch_stops = []  # per stage-one window row: batches needed to finish it
        for k in range(len(rows_one)):
            last_item = (k + 1) * windows_per_row * size_z - 1
            batch_stops.append(last_item // stage_one_batch_size + 1)
        batch_stops[-1] = batches_total

        needs = tuple(_stage_two_need(x, patch_two[0], factor, half[0], margin_rows)
                      for x in grid_two.axis_starts[0])
        if not sliced:
            finals, batch_stops = [half[0]], [batches_total]
        batches, rows_two = [], []
        first_batch, first_row = 0, 0
        for final, stop in zip(finals, batch_stops):
            batches.append(range(first_batch, stop))
            first_batch = stop
            last_row = first_row
            while last_row < len(needs) and needs[last_row] <= final:
                last_row += 1
            rows_two.append(range(first_row, last_row))
            first_row = last_row
        if first_row != len(needs):  # cannot happen: the last slab finalises every row
            raise AssertionError("slab plan left stage-two rows unassigned")
        return cls((size_x, size_y, size_z), int(factor), grid_one, grid_two, size_z, int(stage_one_batch_size),
                   int(stage_two_batch_size), tuple(batches), tuple(finals), tuple(rows_two), needs, margin_rows)

    @functools.cached_property
    def stage_two_grid_on_stage_one(self) -> PatchGrid:
        """Stage two's windows on stage one's in-plane grid ``(X/f, Y/f, Z)`` (every box lands on whole voxels)."""
        step = Fraction(1, self.factor)
        return self.stage_two_grid.scaled((step, step, Fraction(1)), "stage one's grid")

    @property
    def slabs(self) -> int:
        """Number of slabs."""
        return len(self.stage_one_batches)

    @property
    def half_shape(self) -> tuple[int, int]:
        """Stage one's slice ``(X/f, Y/f)``."""
        return tuple(int(s) for s in self.stage_one_grid.image_shape)  # type: ignore[return-value]

    @property
    def stage_one_items(self) -> int:
        """Stage-one work items: windows per slice x slices (window-major, like the host schedule)."""
        return len(self.stage_one_grid) * self.slices

    def stage_one_item(self, item: int) -> tuple[int, int]:
        """``(window, slice)`` of stage-one item ``item`` (items beyond the end repeat the last one)."""
        item = min(item, self.stage_one_items - 1)
        return item // self.slices, item % self.slices

    def stage_one_batch_items(self, batch: int) -> range:
        """The items of stage-one batch ``batch`` (the last batch may be short: the caller pads it)."""
        first = batch * self.stage_one_batch_size
        return range(first, min(first + self.stage_one_batch_size, self.stage_one_items))

    def stage_one_rows_read(self, slab: int) -> int:
        """Stop of the half-resolution rows the stage-one batches up to slab ``slab`` read (their input)."""
        batches = self.stage_one_batches[slab]
        if len(batches) == 0:
            return 0 if slab == 0 else self.stage_one_rows_read(slab - 1)
        last_item = self.stage_one_batch_items(batches[-1])[-1]
        window, _ = self.stage_one_item(last_item)
        start = self.stage_one_grid.window_starts()[window][0]
        return int(min(start + self.stage_one_grid.patch_size[0], self.half_shape[0]))

    def volume_rows_needed(self, slab: int) -> int:
        """Stop of the full-resolution volume rows slab ``slab`` reads (stage-one input and stage-two patches)."""
        stop = self.stage_one_rows_read(slab) * self.factor
        rows = self.stage_two_rows[slab]
        if len(rows):
            stop = max(stop, self.stage_two_grid.axis_starts[0][rows[-1]] + self.stage_two_grid.patch_size[0])
        if slab > 0:
            stop = max(stop, self.volume_rows_needed(slab - 1))
        return int(min(stop, self.shape[0]))

    def stage_two_row_windows(self, row: int) -> np.ndarray:
        """C-order indices of the stage-two windows in window row ``row``."""
        per_row = len(self.stage_two_grid) // self.stage_two_grid.counts[0]
        return np.arange(row * per_row, (row + 1) * per_row)

    def describe(self) -> dict[str, object]:
        """Plain facts for reports: slabs, and how many of them unlock stage-two work."""
        return {
            "slabs": self.slabs,
            "slabs_with_stage_two": sum(1 for rows in self.stage_two_rows if len(rows)),
            "stage_one_window_rows": len(self.stage_one_grid.axis_starts[0]),
            "stage_two_window_rows": len(self.stage_two_grid.axis_starts[0]),
        }


def _stage_two_need(start: int, extent: int, factor: int, half_rows: int, margin_rows: int | None) -> int:
    """Half-resolution rows ``[0, n)`` that a stage-two window row at full-resolution ``start`` reads."""
    probabilities = source_rows_read(start, extent, factor, 1, half_rows)
    feature_rows = half_rows // STAGE_ONE_FEATURE_STRIDE
    features = source_rows_read(start, extent // STAGE_TWO_FEATURE_STRIDE, factor * STAGE_ONE_FEATURE_STRIDE,
                                STAGE_TWO_FEATURE_STRIDE, feature_rows) * STAGE_ONE_FEATURE_STRIDE
    need = max(probabilities, features)
    if margin_rows is not None:
        need = max(need, -(-(start + extent) // factor) + margin_rows)
    return int(min(need, half_rows))
