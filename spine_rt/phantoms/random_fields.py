"""Smooth random fields: tissue texture and slowly varying gains.

A field is white noise smoothed by a Gaussian, made on a coarse grid and
interpolated up, so that its cost does not grow with the correlation length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], correlation_px: Sequence[float] | float) -> np.ndarray:
    """A float32 field of ``shape`` with zero mean and unit standard deviation
    whose correlation length along each axis is ``correlation_px`` pixels."""
    shape = tuple(int(n) for n in shape)
    lengths = np.broadcast_to(np.asarray(correlation_px, dtype=np.float64), (len(shape),))
    step = np.maximum(1.0, np.floor(lengths / 3.0))
    coarse_shape = tuple(int(np.ceil(n / s)) + 3 for n, s in zip(shape, step))
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    coarse = ndimage.gaussian_filter(coarse, sigma=tuple(lengths / step), mode="wrap")
    if np.any(step > 1):
        positions = [np.arange(n, dtype=np.float32) / s + 1.0 for n, s in zip(shape, step)]
        field = _separable_linear(coarse, positions)
    else:
        field = coarse[tuple(slice(1, 1 + n) for n in shape)]
    field = field - field.mean()
    spread = float(field.std())
    return (field / spread if spread > 0 else field).astype(np.float32)


def _separable_linear(coarse: np.ndarray, positions: list[np.ndarray]) -> np.ndarray:
    """Linear interpolation of ``coarse`` at the outer product of ``positions``
    (one 1-D array of fractional indices per axis), one axis at a time."""
    field = coarse
    for axis, where in enumerate(positions):
        below = np.floor(where).astype(np.intp)
        weight = (where - below).astype(np.float32)
        shape = [1] * field.ndim
        shape[axis] = len(where)
        weight = weight.reshape(shape)
        field = np.take(field, below, axis=axis) * (1.0 - weight) + np.take(field, below + 1, axis=axis) * weight
    return field
