"""SSHSNet's MR intensity normalisation: percentile clip + z-score over non-zero voxels.

Over the non-zero voxels of the (resampled, cropped) volume: clip to the
``(0.5, 99.5)`` percentiles, subtract the mean and divide by the standard
deviation of the clipped values. Zero voxels (background) stay exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError


@dataclass(frozen=True)
class IntensityStatistics:
    """What the normalisation used: clip bounds and z-score numbers (scanner units)."""

    clip_low: float
    clip_high: float
    mean: float
    std: float
    nonzero_voxels: int


def normalize_intensity(
    volume: np.ndarray, clip_percentiles: Sequence[float] = (0.5, 99.5)
) -> tuple[np.ndarray, IntensityStatistics]:
    """Clip + z-score the non-zero voxels of ``volume`` (any shape); returns float32 and the numbers used.

    A constant image is centred but not scaled (standard deviation taken as 1).

    Raises:
        InputError: the volume has no non-zero voxel (nothing to normalise, an empty scan).
    """
    nonzero = volume != 0
    count = int(np.count_nonzero(nonzero))
    if count == 0:
        raise InputError("the image has no non-zero voxel after resampling; an empty scan cannot be segmented")
    # Bit for bit what np.percentile / mean / std over the float64 non-zero values give, with less memory
    # (issue 12): the percentiles from order statistics of a float32 copy (freed before the float64 one is
    # made), the sums over one float64 array (same pairwise summation), the output written slab by slab
    # (element-wise, so the order does not matter).
    low, high = _percentiles(volume, nonzero, count, clip_percentiles)
    values = _gather(volume, nonzero, count, np.float64)
    np.clip(values, low, high, out=values)
    mean = values.mean()
    values -= mean
    np.multiply(values, values, out=values)
    std = float(np.sqrt(np.add.reduce(values) / np.intp(count)))
    del values
    mean = float(mean)
    scale = std if std > 0 else 1.0
    normalized = np.zeros(volume.shape, np.float32)
    for rows in _row_blocks(volume.shape):
        mask = nonzero[rows]
        part = volume[rows][mask].astype(np.float64)
        np.clip(part, low, high, out=part)
        part -= mean
        part /= scale
        normalized[rows][mask] = part
    return normalized, IntensityStatistics(low, high, mean, std, count)


#: voxels per block when the volume is read or written slab by slab
_BLOCK_VOXELS = 1 << 20


def _row_blocks(shape: Sequence[int]) -> list[slice]:
    """Slabs of rows of the first axis of ``shape`` holding about :data:`_BLOCK_VOXELS` voxels each."""
    rows = int(shape[0])
    step = max(1, _BLOCK_VOXELS // max(1, int(np.prod(shape[1:]))))
    return [slice(first, min(first + step, rows)) for first in range(0, rows, step)]


def _gather(volume: np.ndarray, nonzero: np.ndarray, count: int, dtype: type) -> np.ndarray:
    """``volume[nonzero].astype(dtype)`` without an intermediate copy of the volume's dtype."""
    values = np.empty(count, dtype)
    filled = 0
    for rows in _row_blocks(volume.shape):
        part = volume[rows][nonzero[rows]]
        values[filled: filled + part.size] = part
        filled += part.size
    return values


def _percentiles(volume: np.ndarray, nonzero: np.ndarray, count: int,
                 percentiles: Sequence[float]) -> tuple[float, float]:
    """``np.percentile(volume[nonzero].astype(float64), percentiles)`` (linear method); for values that
    float32 holds exactly, from order statistics of a float32 copy (half the memory of numpy's float64 one)."""
    if not (volume.dtype == np.float32 or volume.dtype.itemsize <= 2):
        low, high = (float(v) for v in np.percentile(_gather(volume, nonzero, count, np.float64), list(percentiles)))
        return low, high
    quantiles = np.true_divide(np.asarray(percentiles, np.float64), 100)
    virtual = (count - 1) * quantiles
    previous = np.floor(virtual).astype(np.intp)
    following = np.minimum(previous + 1, count - 1)
    ordered = _gather(volume, nonzero, count, np.float32)
    ordered.partition(np.unique(np.concatenate([previous, following])))
    a = ordered[previous].astype(np.float64)
    b = ordered[following].astype(np.float64)
    gamma = virtual - previous
    difference = b - a  # numpy's lerp, both branches
    result = a + difference * gamma
    upper = gamma >= 0.5
    result[upper] = (b - difference * (1 - gamma))[upper]
    low, high = (float(v) for v in result)
    return low, high
