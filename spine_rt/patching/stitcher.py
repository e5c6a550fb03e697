"""Blend window predictions of one output into its volume, whole or one slab at a time.

A :class:`Stitcher` receives, window by window in the grid's order (sorted
along the first spatial axis), the prediction of every image for that window,
and adds it with normalised weights (see ``window_weights``) to an
accumulator ``(N, C, rows, *rest)``.

* Full mode: the accumulator holds every row; it *is* the result.
* Slab mode: the accumulator holds only ``rows`` = the window extent along
  the first spatial axis. When the next window starts at row ``k``, no window
  left touches rows ``< k``: they are final and are handed to the consumer,
  and the accumulator moves down. A ``(20, 24, 1024, 1024)`` probability
  volume then never needs a full float accumulator.

Voxels that no window covered (windows skipped outside a ROI) get ``fill``.

When every window runs, each window is split into its *fresh* box (voxels no
earlier window touched: one box, because the grid is a product of per-axis
starts) and up to one box per axis that earlier windows already touched. The
fresh box is written (``acc = w * pred``), the rest added (``acc += w * pred``),
so the accumulator needs no zeroing and is read back only where windows
overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from spine_rt.patching.array_backend import Array, ArrayBackend
from spine_rt.patching.grid import PatchGrid
from spine_rt.patching.window_weights import AccumulatedWindowWeights, SeparableWindowWeights

#: receives final rows ``[rows.start, rows.stop)`` of the first spatial axis and their values
#: ``(N, C, len(rows), *rest)``; the block is only valid during the call
SlabConsumer = Callable[[slice, Any], None]


class Stitcher:
    """Accumulates the windows of one output and hands out the normalised volume.

    Args:
        backend: array operations (numpy, or torch on the input's device).
        grid: the windows on this output's own grid (see :meth:`PatchGrid.scaled`).
        run: C-order indices of the windows that run, ascending.
        profiles: per-axis importance profiles at this output's window size.
        images: ``N``, the number of images in the batch.
        channels: ``C`` of this output.
        dtype: accumulation dtype (backend dtype, float32 or float16).
        fill: ``(C,)`` value for voxels no window covered (backend array).
        slab: keep only the rows still being written (see module docstring).
        consumer: receives finished rows; without one the full volume is
            returned by :meth:`finish`.
    """

    def __init__(
        self,
        backend: ArrayBackend,
        grid: PatchGrid,
        run: np.ndarray,
        profiles: tuple[np.ndarray, ...],
        images: int,
        channels: int,
        dtype: Any,
        fill: Array,
        slab: bool = False,
        consumer: SlabConsumer | None = None,
    ) -> None:
        self._backend = backend
        self._size = grid.image_shape[0]
        self._fill = fill
        self._slab = slab
        rows = min(grid.patch_size[0], self._size) if slab else self._size
        self._every_window = len(run) == len(grid)
        self._weights: SeparableWindowWeights | AccumulatedWindowWeights
        if self._every_window:
            self._weights = SeparableWindowWeights(backend, grid, profiles)
        else:
            weight_rows = min(2 * grid.patch_size[0], self._size) if slab else self._size
            self._weights = AccumulatedWindowWeights(backend, grid, run, profiles, weight_rows)
        starts, lo, hi = grid.window_boxes()
        self._run = run
        self._lo, self._hi, self._starts = lo[run], hi[run], starts[run]
        self._pieces = _pieces(grid, run) if self._every_window else [[(False, lo[i], hi[i])] for i in run]
        shape = (images, channels, rows, *grid.image_shape[1:])
        # with fresh boxes every voxel is written before it is read: no zeroing
        self._buffer = backend.empty(shape, dtype) if self._every_window else backend.zeros(shape, dtype)
        self._base = 0
        self._window = -1
        self._window_weights: Array = None
        self._consumer = consumer
        self._result: Array = None
        if slab and consumer is None:
            self._result = backend.empty((images, channels, *grid.image_shape), dtype)

    @property
    def accumulator_shape(self) -> tuple[int, ...]:
        """Shape of the value accumulator ``(N, C, rows, *rest)``."""
        return tuple(self._buffer.shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by accumulators (values, and the weight sum when windows were skipped); not the result."""
        weights = self._weights.nbytes if isinstance(self._weights, AccumulatedWindowWeights) else 0
        return int(self._buffer.nbytes) + weights

    def add(self, k: int, image: int, prediction: Array) -> None:
        """Blend ``prediction (C, *window)`` of image ``image`` for the ``k``-th window that runs.

        Windows come in order; all images of window ``k`` before window ``k + 1``.
        """
        if k != self._window:
            self._start_window(k)
        window_lo, start, weights = self._lo[k], self._starts[k], self._window_weights
        base = np.zeros_like(window_lo)
        base[0] = self._base
        every = slice(None)
        for assign, lo, hi in self._pieces[k]:
            target = self._buffer[(image, every, *_slices(lo - base, hi - base))]
            values = prediction[(every, *_slices(lo - start, hi - start))]
            piece_weights = weights[_slices(lo - window_lo, hi - window_lo)]
            if assign:
                self._backend.multiply(values, piece_weights, target)
            else:
                self._backend.add_product(target, values, piece_weights)

    def finish(self) -> Array | None:
        """Hand out the remaining rows; the full volume without a consumer, else ``None``."""
        if self._slab:
            self._flush(self._size)
            return self._result
        if not self._every_window:
            self._fill_uncovered(self._buffer, 0, self._size)
        if self._consumer is not None:
            self._consumer(slice(0, self._size), self._buffer)
            return None
        return self._buffer

    def _start_window(self, k: int) -> None:
        self._window = k
        if self._slab and self._lo[k, 0] > self._base:
            self._flush(int(self._lo[k, 0]))
        window = int(self._run[k]) if self._every_window else k
        self._window_weights = self._weights.for_window(window)

    def _flush(self, stop: int) -> None:
        """Hand out rows ``[base, stop)`` and move the accumulator down to start at ``stop``."""
        capacity = self._buffer.shape[2]
        in_buffer = min(stop, self._base + capacity)
        if in_buffer > self._base:
            block = self._buffer[:, :, : in_buffer - self._base]
            if not self._every_window:
                self._fill_uncovered(block, self._base, in_buffer)
            self._emit(slice(self._base, in_buffer), block)
        first = in_buffer
        while first < stop:  # rows beyond the accumulator that no window touches
            last = min(stop, first + capacity)
            block = self._buffer[:, :, : last - first]
            block[...] = self._fill.reshape((1, -1) + (1,) * (block.ndim - 2))
            self._emit(slice(first, last), block)
            first = last
        by = stop - self._base
        self._backend.shift_down(self._buffer, 2, by)
        if not self._every_window:
            self._buffer[:, :, max(0, capacity - by) :] = 0
        self._base = stop
        if isinstance(self._weights, AccumulatedWindowWeights):
            self._weights.rebase(stop)

    def _emit(self, rows: slice, block: Array) -> None:
        if self._consumer is not None:
            self._consumer(rows, block)
        else:
            self._result[:, :, rows] = block

    def _fill_uncovered(self, block: Array, first: int, stop: int) -> None:
        """Put ``fill`` where no window ran, in ``block`` = rows ``[first, stop)``."""
        mask = self._weights.weight_sum(first, stop) == 0  # type: ignore[union-attr]
        if self._backend.any(mask):
            self._backend.fill_where(block, mask, self._fill)


def _slices(lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...]:
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def _pieces(grid: PatchGrid, run: np.ndarray) -> list[list[tuple[bool, np.ndarray, np.ndarray]]]:
    """Per window: ``(assign, lo, hi)`` boxes in volume coordinates that tile its part inside the volume.

    The first box is the fresh one (``assign=True``): along each axis, from the
    end of the previous window along that axis (or the window's own start)
    to the window's end. Then, for each axis ``a``, the part before the fresh
    start on ``a`` (fresh range on axes before ``a``, the whole window on axes
    after it), to be added. Empty boxes are left out.
    """
    fresh_lo_per_axis = []
    for size, patch, starts in zip(grid.image_shape, grid.patch_size, grid.axis_starts):
        ends = [min(s + patch, size) for s in starts]
        fresh_lo_per_axis.append([max(starts[0], 0)] + [max(s, e) for s, e in zip(starts[1:], ends[:-1])])
    indices = grid.window_indices()
    _, lo, hi = grid.window_boxes()
    pieces = []
    for window in run:
        w_lo, w_hi = lo[window], hi[window]
        fresh = np.asarray([fresh_lo_per_axis[a][i] for a, i in enumerate(indices[window])])
        boxes = [(True, fresh, w_hi)]
        for axis in range(grid.ndim):
            box_lo, box_hi = w_lo.copy(), w_hi.copy()
            box_lo[:axis] = fresh[:axis]
            box_hi[axis] = fresh[axis]
            boxes.append((False, box_lo, box_hi))
        pieces.append([(assign, a, b) for assign, a, b in boxes if np.all(b > a)])
    return pieces
