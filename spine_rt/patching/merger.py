"""``RowMerger``: blend windows that arrive in any number of steps, and hand out rows once final.

MONAI's ``Merger`` split (``aggregate`` each window, ``finalize`` the
volume) for a schedule that does not know all its windows in advance (the
region of interest is chosen slab by slab while stage one is still
running). Each window adds ``w * p`` to a numerator ``(C, rows, *rest)`` and
``w`` to a weight sum ``(rows, *rest)`` (``w``: the window's importance map);
:meth:`RowMerger.finalize` divides rows ``[done, stop)`` once the caller knows
no window left touches them: ``p = sum w p / sum w`` where a window ran,
0 elsewhere, with a ``covered`` mask.

* ``bounded``: the buffers hold only rows from the first unfinished one to
  the last one a window wrote (grown when a batch reaches further), so a
  ``(20, X, Y, Z)`` probability volume is never held whole.
* otherwise the numerator holds every row and, once finalised, *is* the
  normalised volume (the caller may overwrite finalised rows in place).

Works on numpy arrays or torch tensors through an
:class:`~spine_rt.patching.array_backend.ArrayBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from spine_rt.patching.array_backend import Array, ArrayBackend


class RowMerger:
    """Accumulates windows of ``(C, *window)`` predictions over a volume of ``shape`` (see the module docstring).

    Args:
        backend: numpy, or torch on the windows' device.
        shape: the spatial shape ``(X, *rest)``.
        channels: ``C``.
        importance: ``window`` weights (backend array), every window the same size.
        bounded: keep only the rows still being written.
    """

    def __init__(self, backend: ArrayBackend, shape: Sequence[int], channels: int, importance: Array,
                 bounded: bool) -> None:
        self._backend = backend
        self.shape = tuple(int(s) for s in shape)
        self.channels = int(channels)
        self._importance = importance
        self._bounded = bounded
        self._base = 0  # volume row of buffer row 0
        self.done = 0  # rows [0, done) are finalised
        rows = int(importance.shape[0]) if bounded else self.shape[0]
        self._allocate(min(rows, self.shape[0]))

    @property
    def values(self) -> Array:
        """The numerator; without ``bounded``, rows ``< done`` hold the normalised (or overwritten) values."""
        return self._numerator

    def aggregate(self, start: Sequence[int], prediction: Array) -> None:
        """Add ``prediction`` ``(C, *window)`` of the window starting at ``start`` (inside the volume, rows >= done)."""
        first = int(start[0]) - self._base
        stop = first + int(self._importance.shape[0])
        self._reserve(stop)
        box = (slice(first, stop), *(slice(int(s), int(s) + int(n)) for s, n in
                                     zip(start[1:], self._importance.shape[1:])))
        self._backend.add_product(self._numerator[(slice(None), *box)], prediction, self._importance)
        self._weights[box] += self._importance

    def finalize(self, stop: int, step: int, consumer: Callable[[slice, Array, Array], None]) -> None:
        """Normalise rows ``[done, stop)`` and hand them to ``consumer(rows, values (C, n, ...), covered (n, ...))``
        in blocks of at most ``step`` rows, in order (views, valid during the call; the consumer may write them)."""
        stop = min(int(stop), self.shape[0])
        while self.done < stop:
            rows = slice(self.done, min(self.done + step, stop))
            if self._bounded and rows.stop - self._base > self._weights.shape[0]:
                self.release()  # rows no window wrote yet: make room by dropping the finalised ones
            self._reserve(rows.stop - self._base)
            local = slice(rows.start - self._base, rows.stop - self._base)
            weights = self._weights[local]
            covered = weights > 0
            block = self._numerator[:, local]
            self._backend.divide(block, weights + ~covered, block)  # 0 / 1 where no window ran
            consumer(rows, block, covered)
            self.done = rows.stop
        self.release()

    def release(self) -> None:
        """Bounded: forget the finalised rows (their blocks were consumed)."""
        if not self._bounded or self.done <= self._base:
            return
        if self.done >= self.shape[0]:  # every row is final: nothing is written again, no room to make
            self._base = self.done
            return
        by = self.done - self._base
        capacity = self._weights.shape[0]
        for buffer, axis in ((self._numerator, 1), (self._weights, 0)):
            self._backend.shift_down(buffer, axis, by)
        tail = slice(max(0, capacity - by), capacity)
        self._numerator[:, tail] = 0
        self._weights[tail] = 0
        self._base = self.done

    def _reserve(self, stop: int) -> None:
        """Make buffer rows ``[0, stop)`` exist (bounded buffers grow, keeping their rows).

        A bounded buffer grows to exactly ``stop`` rows (not doubling: the rows a batch of windows reaches are
        few and recur, and every row costs ``C + 1`` floats across the volume's other axes; issue 12)."""
        capacity = self._weights.shape[0]
        if stop <= capacity:
            return
        numerator, weights = self._numerator, self._weights
        grown = stop if self._bounded else max(stop, 2 * capacity)
        self._allocate(min(grown, self.shape[0] - self._base))
        self._numerator[:, :capacity] = numerator
        self._weights[:capacity] = weights

    def _allocate(self, rows: int) -> None:
        float32 = self._backend.dtype("float32")
        self._numerator = self._backend.zeros((self.channels, rows, *self.shape[1:]), float32)
        self._weights = self._backend.zeros((rows, *self.shape[1:]), float32)

    @property
    def nbytes(self) -> int:
        """Bytes of the two buffers."""
        return int(self._numerator.nbytes) + int(self._weights.nbytes)
