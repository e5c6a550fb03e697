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
    values = volume[nonzero].astype(np.float64)
    low, high = (float(v) for v in np.percentile(values, list(clip_percentiles)))
    np.clip(values, low, high, out=values)
    mean = float(values.mean())
    std = float(values.std())
    scale = std if std > 0 else 1.0
    normalized = np.zeros(volume.shape, np.float32)
    normalized[nonzero] = ((values - mean) / scale).astype(np.float32)
    return normalized, IntensityStatistics(low, high, mean, std, count)
