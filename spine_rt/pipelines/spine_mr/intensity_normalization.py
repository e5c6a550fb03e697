"""SSHSNet's MR intensity normalisation: percentile clip + z-score over non-zero voxels.

Over the non-zero voxels of the (resampled, cropped) volume: clip to the
``(0.5, 99.5)`` percentiles, subtract the mean and divide by the standard
deviation of the clipped values. Zero voxels (background) stay exactly 0.

The two percentiles are NumPy's (``np.percentile``, linear method), found
without partitioning every voxel (:func:`tail_percentiles`): each is an
order statistic near one end, so a threshold from a strided sample picks
the few candidates beyond it, a count proves the candidates hold the order
statistics asked, and only they are partitioned (about 1/30 of the work
on a 7 M-voxel scan; the whole array when the proof fails).
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
    everything = count == volume.size
    picked = volume.reshape(-1) if everything else volume[nonzero]
    low, high = tail_percentiles(picked, clip_percentiles)
    values = picked.astype(np.float64)
    np.clip(values, low, high, out=values)
    mean = float(values.mean())
    std = float(values.std())
    scale = std if std > 0 else 1.0
    values -= mean
    values /= scale
    if everything:
        return values.astype(np.float32).reshape(volume.shape), IntensityStatistics(low, high, mean, std, count)
    normalized = np.zeros(volume.shape, np.float32)
    normalized[nonzero] = values
    return normalized, IntensityStatistics(low, high, mean, std, count)


#: candidates picked per order statistic asked, as a multiple of its distance from the array's end (plus a floor)
_CANDIDATE_MARGIN = 1.5
_SAMPLE_SIZE = 65_536


def tail_percentiles(values: np.ndarray, percentiles: Sequence[float]) -> tuple[float, float]:
    """``np.percentile(values.astype(float64), percentiles)`` (linear method), bit for bit, for a low and a high
    percentile of a 1D real array (see the module docstring: only candidates near each end are partitioned).

    Args:
        values: ``(N,)`` finite real values (any float or integer dtype; NaN falls back to NumPy).
        percentiles: ``(low, high)`` in percent.
    """
    values = np.asarray(values).reshape(-1)
    n = int(values.size)
    q = np.true_divide(np.asarray(percentiles, dtype=np.float64), 100)
    if n < 4 * _SAMPLE_SIZE or q.shape != (2,) or not (0 <= q[0] <= q[1] <= 1):
        return tuple(float(v) for v in np.percentile(values.astype(np.float64), percentiles))  # type: ignore[return-value]
    virtual = (n - 1) * q  # NumPy's linear method: index (n - 1) q, floor and next, weight the fraction
    previous = np.floor(virtual).astype(np.intp)
    following = np.minimum(previous + 1, n - 1)
    gamma = virtual - previous
    ranks = np.unique(np.concatenate([previous, following]))
    order = _order_statistics(values, ranks)
    if order is None:
        return tuple(float(v) for v in np.percentile(values.astype(np.float64), percentiles))  # type: ignore[return-value]
    a = np.array([order[int(r)] for r in previous], dtype=np.float64)
    b = np.array([order[int(r)] for r in following], dtype=np.float64)
    difference = b - a  # NumPy's _lerp: from the nearer end, so the weight 1 gives b exactly
    result = a + difference * gamma
    np.subtract(b, difference * (1 - gamma), out=result, where=gamma >= 0.5)
    return float(result[0]), float(result[1])


def _order_statistics(values: np.ndarray, ranks: np.ndarray) -> dict[int, float] | None:
    """The values at 0-based sorted positions ``ranks`` of ``values``, found among candidates beyond thresholds;
    ``None`` on NaN or when a threshold does not hold enough candidates, for the caller's full partition."""
    n = values.size
    if values.dtype.kind == "f" and np.isnan(values.max()):  # NumPy's answer is NaN then
        return None
    sample = np.sort(values[:: max(1, n // _SAMPLE_SIZE)])
    found: dict[int, float] = {}
    for side, low_end in ((ranks[ranks < n // 2], True), (ranks[ranks >= n // 2], False)):
        if side.size == 0:
            continue
        if low_end:  # low end: the candidates are the values <= a threshold
            need = int(side.max()) + 1
            at = min(sample.size - 1, int(np.ceil(_CANDIDATE_MARGIN * need / n * sample.size)) + 8)
            candidates = values[values <= sample[at]]
            if candidates.size < need or candidates.size >= n:
                return None
            positions = side
        else:  # high end: the values >= a threshold, ranked from the top
            need = n - int(side.min())
            at = max(0, sample.size - 1 - int(np.ceil(_CANDIDATE_MARGIN * need / n * sample.size)) - 8)
            candidates = values[values >= sample[at]]
            if candidates.size < need or candidates.size >= n:
                return None
            positions = side - (n - candidates.size)
        picked = np.partition(candidates, positions)
        found.update({int(r): float(picked[p]) for r, p in zip(side, positions)})
    return found
