"""Importance weights: how much each voxel of a window counts when windows overlap.

``"gaussian"`` trusts the centre of a window more than its border (networks
see less context there); ``"constant"`` weighs every voxel alike. Both are
separable: the weight of a voxel is the product of one profile per axis,
which lets the stitcher normalise them per axis (see ``window_weights``).

The Gaussian profile of an axis with ``p`` voxels is centred on ``(p - 1) / 2``
with ``sigma = sigma_scale * p`` (``1/8`` of the patch by default), scaled to a
peak of 1 and clamped from below at :data:`GAUSSIAN_FLOOR` so that border
voxels (about ``exp(-8)`` at the default sigma) always keep a positive weight.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

from spine_rt.errors import InputError

#: smallest per-axis Gaussian weight; only reached for small ``sigma_scale``
GAUSSIAN_FLOOR = 1e-4
#: default Gaussian width as a fraction of the patch size
DEFAULT_SIGMA_SCALE = 0.125


class ImportanceMode(str, enum.Enum):
    """How voxels of one window are weighed when overlapping windows are blended."""

    GAUSSIAN = "gaussian"
    CONSTANT = "constant"

    @classmethod
    def parse(cls, value: str | ImportanceMode) -> ImportanceMode:
        """The mode named ``value``; :class:`InputError` listing the valid names otherwise."""
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(m.value) for m in cls)
            raise InputError(f"unknown importance mode {value!r}; valid modes: {valid}") from None


def importance_profiles(
    patch_size: Sequence[int],
    mode: str | ImportanceMode = ImportanceMode.GAUSSIAN,
    sigma_scale: float | Sequence[float] = DEFAULT_SIGMA_SCALE,
) -> tuple[np.ndarray, ...]:
    """One float32 weight profile per axis; their outer product is :func:`importance_map`.

    Raises:
        InputError: unknown ``mode``; ``sigma_scale`` not positive.
    """
    mode = ImportanceMode.parse(mode)
    scales = tuple(sigma_scale) if isinstance(sigma_scale, Sequence) else (sigma_scale,) * len(patch_size)
    if len(scales) != len(patch_size) or not all(float(s) > 0 for s in scales):
        raise InputError(f"sigma_scale must be positive, one value or one per axis, got {sigma_scale!r}")
    if mode is ImportanceMode.CONSTANT:
        return tuple(np.ones(p, np.float32) for p in patch_size)
    return tuple(_gaussian_profile(p, float(s)) for p, s in zip(patch_size, scales))


def importance_map(
    patch_size: Sequence[int],
    mode: str | ImportanceMode = ImportanceMode.GAUSSIAN,
    sigma_scale: float | Sequence[float] = DEFAULT_SIGMA_SCALE,
) -> np.ndarray:
    """The float32 weight of every voxel of a window, shape ``patch_size``, peak 1, all positive."""
    weights = np.ones((), np.float32)
    for profile in importance_profiles(patch_size, mode, sigma_scale):
        weights = np.multiply.outer(weights, profile)
    return weights


def _gaussian_profile(size: int, sigma_scale: float) -> np.ndarray:
    centre = (size - 1) / 2.0
    sigma = sigma_scale * size
    offsets = (np.arange(size, dtype=np.float64) - centre) / sigma
    profile = np.exp(-0.5 * offsets * offsets)
    profile /= profile.max()
    return np.maximum(profile, GAUSSIAN_FLOOR).astype(np.float32)
