"""Cropping a model-grid volume to its non-zero extent, and putting results back.

SSHSNet crops the in-plane axes of the resampled volume to the extent of the
non-zero voxels (the zero border of a scan carries no anatomy). The crop box
is recorded so that labels and probabilities computed on the cropped volume
can be placed back on the full model grid, with background outside the box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropBox:
    """A box ``[start, stop)`` per axis of a ``(X, Y, Z)`` volume of ``full_shape``.

    Attributes:
        full_shape: shape of the uncropped volume ``(X, Y, Z)``.
        start / stop: the box, voxel indices per axis.
    """

    full_shape: tuple[int, int, int]
    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    @classmethod
    def nonzero_extent(cls, volume: np.ndarray, axes: Sequence[int] = (0, 1)) -> CropBox:
        """The smallest box holding every non-zero voxel of ``volume`` along ``axes``.

        Axes not in ``axes`` keep their whole extent. An all-zero volume keeps
        its whole extent on every axis (nothing to crop to).
        """
        shape = tuple(int(n) for n in volume.shape)
        start, stop = [0] * 3, list(shape)
        nonzero = volume != 0
        if nonzero.any():
            for axis in axes:
                others = tuple(a for a in range(3) if a != axis)
                present = np.flatnonzero(nonzero.any(axis=others))
                start[axis], stop[axis] = int(present[0]), int(present[-1]) + 1
        return cls(shape, tuple(start), tuple(stop))  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the cropped volume."""
        return tuple(b - a for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as slices of the last three axes."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    def crop(self, values: np.ndarray) -> np.ndarray:
        """``(..., *full_shape)`` -> ``(..., *shape)`` (a view)."""
        return values[(Ellipsis, *self.slices)]

    def uncrop(self, values: np.ndarray, fill: float | Sequence[float] = 0) -> np.ndarray:
        """``(..., *shape)`` -> ``(..., *full_shape)``; outside the box: ``fill``.

        ``fill`` is one value, or one value per leading channel for
        ``(C, *shape)`` arrays (e.g. background probability 1 in channel 0).
        """
        lead = values.shape[:-3]
        out = np.empty((*lead, *self.full_shape), values.dtype)
        fill_values = np.asarray(fill, dtype=values.dtype)
        out[...] = fill_values.reshape(fill_values.shape + (1, 1, 1)) if fill_values.ndim else fill_values
        out[(Ellipsis, *self.slices)] = values
        return out
