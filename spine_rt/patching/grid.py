"""Where the windows go: :class:`PatchGrid`, the window starts of a sliding window.

Along every spatial axis the windows are spread evenly from the first voxel to
the last one, the last window flush with the far edge, so no window reaches
beyond the image. The one exception is an axis where the image is smaller than
the patch: there a single window is centred on the image and the image is
padded to fill it (the padded part of the prediction is cropped away).

The spacing comes from an ``overlap`` fraction (the windows are as few as that
overlap allows, then spread evenly) or from an explicit ``stride`` in voxels
(windows at ``0, stride, 2*stride, ...`` and one flush with the edge), per axis.

Coordinates are voxel indices of the spatial axes ``(Z, Y, X)`` (or ``(Y, X)``).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from spine_rt.errors import InputError

#: the overlap used when neither overlap nor stride is given for an axis
DEFAULT_OVERLAP = 0.5


@dataclass(frozen=True)
class PatchGrid:
    """The windows of a sliding window over one spatial volume.

    Attributes:
        image_shape: spatial shape of the volume, ``(Z, Y, X)``.
        patch_size: spatial shape of one window.
        axis_starts: per axis, the sorted start index of every window along
            that axis. A start is negative only on an axis where the image is
            smaller than the patch (the window is centred, the image padded).

    The windows are the Cartesian product of the per-axis starts, in C order
    (axis 0 slowest), so they come sorted along the first spatial axis.
    Build one with :meth:`plan`; the constructor trusts its arguments.
    """

    image_shape: tuple[int, ...]
    patch_size: tuple[int, ...]
    axis_starts: tuple[tuple[int, ...], ...]

    @classmethod
    def plan(
        cls,
        image_shape: Sequence[int],
        patch_size: int | Sequence[int],
        overlap: float | Sequence[float] = DEFAULT_OVERLAP,
        stride: int | Sequence[int | None] | None = None,
        alignment: int | Sequence[int] = 1,
    ) -> PatchGrid:
        """Plan the windows over a volume of spatial shape ``image_shape``.

        Args:
            image_shape: spatial shape ``(Z, Y, X)`` (any number of axes >= 1).
            patch_size: window shape, one int for every axis or one per axis.
            overlap: fraction of a window shared with its neighbour, in
                ``[0, 1)``; one value or one per axis. Windows are as few as
                this overlap allows and spread evenly, so the real overlap is
                at least this.
            stride: explicit distance between window starts in voxels, one
                value or one per axis (``None`` entries use ``overlap``). Must
                be between 1 and the patch size, so every voxel is covered.
            alignment: window starts are multiples of this (one value or one
                per axis), except the last one, flush with the edge. Needed when
                the predictor returns an output at ``1/alignment`` resolution,
                so that every window lands on whole output voxels.

        Raises:
            InputError: shapes of the wrong length or not positive, an overlap
                outside ``[0, 1)``, a stride outside ``[1, patch]``, an
                alignment outside ``[1, patch]``.
        """
        shape = _positive_ints(image_shape, "image shape", None)
        ndim = len(shape)
        patch = _positive_ints(patch_size, "patch_size", ndim)
        overlaps = _per_axis(overlap, ndim, "overlap")
        strides = _per_axis(stride, ndim, "stride")
        alignments = _per_axis(alignment, ndim, "alignment")
        starts = []
        for axis in range(ndim):
            o, s, a, p = overlaps[axis], strides[axis], alignments[axis], patch[axis]
            if not isinstance(o, numbers.Real) or isinstance(o, bool) or not 0.0 <= o < 1.0:
                raise InputError(f"overlap must be a number in [0, 1), got {o!r} for axis {axis}")
            if s is not None and (not _is_int(s) or not 1 <= s <= p):
                raise InputError(
                    f"stride must be an integer between 1 and the patch size ({p}) for axis {axis}, got {s!r}; "
                    "a stride larger than the patch would leave voxels that no window covers"
                )
            if not _is_int(a) or not 1 <= a <= p:
                raise InputError(
                    f"alignment must be an integer between 1 and the patch size ({p}) for axis {axis}, got {a!r}"
                )
            starts.append(axis_starts(shape[axis], p, overlap=float(o), stride=s, alignment=int(a)))
        return cls(shape, patch, tuple(starts))

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.image_shape)

    @property
    def counts(self) -> tuple[int, ...]:
        """Number of windows along each axis."""
        return tuple(len(s) for s in self.axis_starts)

    def __len__(self) -> int:
        return math.prod(self.counts)

    @property
    def padding(self) -> tuple[tuple[int, int], ...]:
        """Per axis ``(before, after)``: how far windows reach beyond the image.

        Zero except on axes where the image is smaller than the patch.
        """
        return tuple(
            (max(0, -starts[0]), max(0, starts[-1] + patch - size))
            for starts, patch, size in zip(self.axis_starts, self.patch_size, self.image_shape)
        )

    def window_indices(self) -> np.ndarray:
        """Per-axis index of every window, shape ``(len(self), ndim)``, C order."""
        grids = np.meshgrid(*[np.arange(n) for n in self.counts], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1)

    def window_starts(self) -> np.ndarray:
        """Start of every window, shape ``(len(self), ndim)``, C order (sorted along axis 0)."""
        indices = self.window_indices()
        return np.stack([np.asarray(s)[indices[:, a]] for a, s in enumerate(self.axis_starts)], axis=1)

    def window_boxes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(starts, lo, hi)``, each ``(len(self), ndim)``: window starts and their parts ``[lo, hi)`` inside the image."""
        starts = self.window_starts()
        lo = np.maximum(starts, 0)
        hi = np.minimum(starts + np.asarray(self.patch_size), np.asarray(self.image_shape))
        return starts, lo, hi

    def window_slices(self, index: int) -> tuple[slice, ...]:
        """The spatial slices of window ``index`` (C order), in image coordinates."""
        per_axis = np.unravel_index(index, self.counts)
        return tuple(
            slice(starts[i], starts[i] + patch)
            for starts, i, patch in zip(self.axis_starts, per_axis, self.patch_size)
        )

    def scaled(self, scale: Sequence[Fraction], name: str = "output") -> PatchGrid:
        """The same windows on the grid of an output at ``scale`` times the input resolution.

        ``scale`` is one exact fraction per axis (output patch / input patch).
        Raises :class:`InputError` when the image or a window start does not
        land on a whole output voxel.
        """
        shape, patch, starts = [], [], []
        for axis, factor in enumerate(scale):
            size = self.image_shape[axis] * factor
            if size.denominator != 1:
                raise InputError(
                    f"{name} is at {factor} of the input resolution along spatial axis {axis}, but the image size "
                    f"{self.image_shape[axis]} times {factor} is not a whole number of voxels; pad or crop the image "
                    f"to a multiple of {factor.denominator} along that axis"
                )
            moved = [s * factor for s in self.axis_starts[axis]]
            bad = [s for s, m in zip(self.axis_starts[axis], moved) if m.denominator != 1]
            if bad:
                raise InputError(
                    f"{name} is at {factor} of the input resolution along spatial axis {axis}, but window start "
                    f"{bad[0]} does not land on a whole output voxel; pass alignment={factor.denominator} "
                    "(or a stride that is a multiple of it) so every window does"
                )
            shape.append(int(size))
            patch.append(int(self.patch_size[axis] * factor))
            starts.append(tuple(int(m) for m in moved))
        return PatchGrid(tuple(shape), tuple(patch), tuple(starts))


def axis_starts(
    size: int, patch: int, overlap: float = DEFAULT_OVERLAP, stride: int | None = None, alignment: int = 1
) -> tuple[int, ...]:
    """Window starts along one axis of ``size`` voxels (arguments already validated).

    Without ``stride``: the fewest windows whose spacing is at most
    ``patch * (1 - overlap)`` (at least 1), spread evenly between 0 and
    ``size - patch`` and rounded to multiples of ``alignment`` (the last one
    stays flush with the edge). With ``stride``: ``0, stride, ...`` below
    ``size - patch``, then ``size - patch``. When ``size < patch``: one window
    centred on the image (start rounded down to a multiple of ``alignment``).
    """
    span = size - patch
    if span < 0:
        return (-(((-span) // 2) // alignment * alignment),)
    if span == 0:
        return (0,)
    if stride is not None:
        return tuple(range(0, span, stride)) + (span,)
    step = max(1.0, patch * (1.0 - overlap))
    count = math.ceil(span / step - 1e-9) + 1
    while True:
        spread = [int(math.floor(i * span / (count - 1) / alignment + 0.5)) * alignment for i in range(count - 1)]
        starts = sorted({min(s, span) for s in spread} | {span})
        if all(b - a <= patch for a, b in zip(starts, starts[1:])):
            return tuple(starts)
        count += 1


def windows_touching(grid: PatchGrid, roi: np.ndarray | None, windows: np.ndarray | None = None,
                     first_row: int = 0) -> np.ndarray:
    """The ROI filter of the splitter: C-order indices among ``windows`` (default: all of ``grid``) whose box
    touches ``roi``.

    ``roi`` is a bool mask over the grid's image, or over rows
    ``[first_row, first_row + len(roi))`` of its first axis only (a band);
    ``None``: every window touches. A summed-area table answers "any ROI
    voxel in this box" in O(1) per window, for 2D and 3D grids alike.

    Raises:
        InputError: a mask of ``2**31`` voxels or more (the counts are int32).
    """
    windows = np.arange(len(grid)) if windows is None else np.asarray(windows, np.int64)
    if roi is None or len(windows) == 0:
        return windows
    _, lo, hi = grid.window_boxes()
    lo, hi = lo[windows].copy(), hi[windows].copy()
    lo[:, 0] = np.clip(lo[:, 0] - first_row, 0, roi.shape[0])
    hi[:, 0] = np.clip(hi[:, 0] - first_row, 0, roi.shape[0])
    return windows[box_counts(summed_area_table(roi), lo, hi) > 0]


def summed_area_table(mask: np.ndarray) -> np.ndarray:
    """``(n0 + 1, n1 + 1, ...)`` int32: ``table[i, j, ...]`` = true voxels of ``mask[:i, :j, ...]``.

    Raises:
        InputError: a mask of ``2**31`` voxels or more (the counts are int32).
    """
    if mask.size >= 2**31:
        raise InputError(f"a ROI of {mask.size} voxels is beyond 2**31; split the volume")
    table = np.zeros(tuple(n + 1 for n in mask.shape), np.int32)
    table[(slice(1, None),) * mask.ndim] = mask
    for axis in range(mask.ndim):
        np.cumsum(table, axis=axis, out=table)
    return table


def box_counts(table: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(N,)`` int64: true voxels of the mask of :func:`summed_area_table` ``table`` in each box
    ``[lo, hi)`` (``(N, ndim)`` voxel indices inside the mask), by inclusion-exclusion over the box corners."""
    ndim = table.ndim
    count = np.zeros(len(lo), np.int64)
    for corner in itertools.product((False, True), repeat=ndim):
        sign = -1 if (ndim - sum(corner)) % 2 else 1
        count += sign * table[tuple(np.where(high, hi[:, axis], lo[:, axis]) for axis, high in enumerate(corner))]
    return count


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive_ints(value: int | Sequence[int], what: str, ndim: int | None) -> tuple[int, ...]:
    values = (value,) * ndim if ndim is not None and _is_int(value) else value
    try:
        values = tuple(values)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{what} must be a sequence of positive integers, got {value!r}") from None
    if not values or not all(_is_int(v) and v > 0 for v in values):
        raise InputError(f"{what} must be positive integers, got {value!r}")
    if ndim is not None and len(values) != ndim:
        raise InputError(f"{what} {tuple(values)} has {len(values)} axes, the image has {ndim} spatial axes")
    return tuple(int(v) for v in values)


def _per_axis(value, ndim: int, what: str) -> tuple:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return (value,) * ndim
    values = tuple(value)
    if len(values) != ndim:
        raise InputError(f"{what} {values} has {len(values)} entries, the image has {ndim} spatial axes")
    return values
