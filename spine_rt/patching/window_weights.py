"""Normalised blending weights: each window's importance divided by the total over all windows.

The stitched value of a voxel is ``sum_i w_i * pred_i / sum_i w_i`` over the
windows ``i`` that ran and cover it. Dividing the weights *before* blending,
``sum_i (w_i / W) * pred_i`` with ``W = sum_i w_i``, gives the same value but
needs no weight accumulator and no final division pass, and every term stays
within ``[0, 1]``, so float16 accumulation loses nothing at the image border
where all weights are tiny.

* :class:`SeparableWindowWeights` - every window of the grid runs: ``W`` is the
  product of one 1-D sum per axis, so each window's normalised weights are an
  outer product of short per-axis profiles (exact, no volume-sized array).
* :class:`AccumulatedWindowWeights` - some windows were skipped (ROI): ``W`` is
  accumulated per voxel over the windows that run, only for the rows of the
  first spatial axis that are still being written (a rolling buffer).

Both give, for window ``k`` of the run order, a float32 array of the window's
part inside the volume (``hi - lo`` per axis).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spine_rt.patching.array_backend import Array, ArrayBackend
from spine_rt.patching.grid import PatchGrid


class SeparableWindowWeights:
    """Normalised weights when every window of ``grid`` runs, in C order."""

    def __init__(self, backend: ArrayBackend, grid: PatchGrid, profiles: Sequence[np.ndarray]) -> None:
        self._backend = backend
        self._indices = grid.window_indices()
        self._axis_weights = [
            [backend.from_host(w) for w in normalised_axis_profiles(size, patch, starts, profile)]
            for size, patch, starts, profile in zip(grid.image_shape, grid.patch_size, grid.axis_starts, profiles)
        ]
        self._prefix_key: tuple[int, ...] | None = None
        self._prefix: Array = None
        self._out: dict[tuple[int, ...], Array] = {}

    def for_window(self, window: int) -> Array:
        """Weights of window ``window`` (C-order index), shape of its part inside the volume."""
        index = tuple(int(i) for i in self._indices[window])
        if index[:-1] != self._prefix_key:  # consecutive windows share all but the last axis
            prefix = None
            for axis, i in enumerate(index[:-1]):
                profile = self._axis_weights[axis][i]
                prefix = profile if prefix is None else prefix.reshape(*prefix.shape, 1) * profile
            self._prefix_key, self._prefix = index[:-1], prefix
        last = self._axis_weights[-1][index[-1]]
        if self._prefix is None:
            return last
        shape = (*self._prefix.shape, last.shape[0])
        out = self._out.get(shape)
        if out is None:
            out = self._out[shape] = self._backend.empty(shape, self._backend.dtype("float32"))
        self._backend.multiply(self._prefix.reshape(*self._prefix.shape, 1), last, out)
        return out


class AccumulatedWindowWeights:
    """Normalised weights of a subset of the windows of ``grid``, from a rolling per-voxel weight sum.

    ``run`` lists the windows that run (C-order indices, ascending). The sum
    covers rows ``[base, base + capacity)`` of the first spatial axis; the
    stitcher moves ``base`` forward with :meth:`rebase` as rows are finished.
    ``capacity`` must be at least twice the window extent along that axis (or
    the whole axis): the sum for a window needs the windows that start within
    one window extent after it.
    """

    def __init__(
        self, backend: ArrayBackend, grid: PatchGrid, run: np.ndarray, profiles: Sequence[np.ndarray], capacity: int
    ) -> None:
        self._backend = backend
        weights = np.ones((), np.float32)
        for profile in profiles:
            weights = np.multiply.outer(weights, profile)
        self._map = backend.from_host(weights.astype(np.float32))
        starts, lo, hi = grid.window_boxes()
        self._starts, self._lo, self._hi = starts[run], lo[run], hi[run]
        self._extent = grid.patch_size[0]
        self._sum = backend.zeros((capacity, *grid.image_shape[1:]), backend.dtype("float32"))
        self._base = 0
        self._added = 0
        self._out: dict[tuple[int, ...], Array] = {}

    @property
    def nbytes(self) -> int:
        """Bytes held by the rolling weight sum."""
        return int(np.prod(self._sum.shape)) * 4

    def rebase(self, base: int) -> None:
        """Forget rows before ``base`` (no window still to run touches them)."""
        by = base - self._base
        capacity = self._sum.shape[0]
        self._backend.shift_down(self._sum, 0, by)
        self._sum[max(0, capacity - by) :] = 0
        self._base = base

    def weight_sum(self, first: int, stop: int) -> Array:
        """The weight sum of rows ``[first, stop)`` (all inside the buffer); 0 where no window ran."""
        return self._sum[first - self._base : stop - self._base]

    def for_window(self, k: int) -> Array:
        """Weights of the ``k``-th window that runs, shape of its part inside the volume."""
        reach = self._starts[k, 0] + self._extent
        while self._added < len(self._starts) and self._starts[self._added, 0] < reach:
            self._add(self._added)
            self._added += 1
        lo, hi, start = self._lo[k], self._hi[k], self._starts[k]
        region = self._sum[_box(lo, hi, self._base)]
        out = self._out.get(region.shape)
        if out is None:
            out = self._out[region.shape] = self._backend.empty(region.shape, self._backend.dtype("float32"))
        self._backend.divide(self._map[_box(lo - start, hi - start, 0)], region, out)
        return out

    def _add(self, k: int) -> None:
        lo, hi, start = self._lo[k], self._hi[k], self._starts[k]
        self._sum[_box(lo, hi, self._base)] += self._map[_box(lo - start, hi - start, 0)]


def normalised_axis_profiles(size: int, patch: int, starts: Sequence[int], profile: np.ndarray) -> list[np.ndarray]:
    """Per window along one axis: its profile divided by the sum of all windows' profiles, inside ``[0, size)``.

    Summed over the windows, the returned profiles are 1 at every voxel.
    """
    profile = profile.astype(np.float64)
    total = np.zeros(size, np.float64)
    boxes = [(max(s, 0), min(s + patch, size), s) for s in starts]
    for lo, hi, s in boxes:
        total[lo:hi] += profile[lo - s : hi - s]
    return [(profile[lo - s : hi - s] / total[lo:hi]).astype(np.float32) for lo, hi, s in boxes]


def _box(lo: np.ndarray, hi: np.ndarray, row_base: int) -> tuple[slice, ...]:
    """Slices of ``[lo, hi)``, the first axis shifted by ``row_base``."""
    first = slice(int(lo[0]) - row_base, int(hi[0]) - row_base)
    return (first, *(slice(int(a), int(b)) for a, b in zip(lo[1:], hi[1:])))
