"""Resampling a voxel grid to another spacing (scipy), and back.

The target grid covers the source's field of view: its first voxel
*corner* coincides with the source's first voxel corner, and it has
``ceil(n * spacing / target_spacing)`` voxels per axis, so no source voxel
lies outside it (it may reach less than one target voxel beyond the far
edge). With ``r = target_spacing / spacing`` (source voxels per target
voxel), target voxel centre ``t`` sits at source index ``r * t + (r - 1) / 2``.

Nearest-neighbour round trips (source -> target -> source) are therefore
exact when ``r <= 1`` on every axis, and otherwise change a voxel only where
the source is not constant within ``floor((r + 1) / 2)`` voxels along each
axis.

Images are interpolated linearly, label maps with nearest neighbour; outside
the source grid the edge value is repeated (scipy mode ``'nearest'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from spine_rt.errors import InputError

Interpolation = Literal["linear", "nearest"]
INTERPOLATIONS: tuple[str, ...] = ("linear", "nearest")

#: refuse target grids larger than this many voxels (a spacing typo, not a scan)
MAX_TARGET_VOXELS = 2_000_000_000


def parse_spacing(spacing: Sequence[float], what: str = "spacing") -> tuple[float, float, float]:
    """Three positive finite mm values, or :class:`InputError`."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be three numbers in mm, got {spacing!r}") from None
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"{what} must be three positive numbers in mm, got {spacing!r}")
    return values  # type: ignore[return-value]


def parse_interpolation(interpolation: str) -> Interpolation:
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {interpolation!r}")
    return interpolation  # type: ignore[return-value]


def default_interpolation(values: np.ndarray) -> Interpolation:
    """``'nearest'`` for integer/bool arrays (labels), ``'linear'`` for floats (images, probabilities)."""
    return "linear" if np.issubdtype(values.dtype, np.floating) else "nearest"


@dataclass(frozen=True)
class SpacingResample:
    """Resampling of the last three axes from ``source_shape`` to ``target_shape``.

    ``scale[a]`` is the number of source voxels per target voxel along axis
    ``a`` (target spacing / source spacing). An axis with scale 1 is left
    untouched, so a resample to the same spacing is the identity.
    """

    source_shape: tuple[int, int, int]
    target_shape: tuple[int, int, int]
    scale: tuple[float, float, float]

    @classmethod
    def to_spacing(
        cls, shape: Sequence[int], spacing: Sequence[float], target_spacing: Sequence[float]
    ) -> SpacingResample:
        """Plan the resample of a grid of ``shape`` and ``spacing`` (mm) to ``target_spacing`` (mm).

        Raises:
            InputError: a spacing is not three positive numbers, or the target
                grid would be absurdly large.
        """
        source = parse_spacing(spacing, "source spacing")
        target = parse_spacing(target_spacing, "target spacing")
        shape = tuple(int(n) for n in shape)
        scale = tuple(1.0 if np.isclose(t, s, rtol=1e-6, atol=0.0) else t / s for s, t in zip(source, target))
        # ceil, with a little slack so an exact multiple does not gain a voxel from rounding noise
        target_shape = tuple(max(1, math.ceil(n / r - 1e-6)) for n, r in zip(shape, scale))
        if float(np.prod(target_shape, dtype=np.float64)) > MAX_TARGET_VOXELS:
            raise InputError(
                f"resampling {shape} voxels at {source} mm to {target} mm gives {target_shape} voxels; "
                "check the target spacing"
            )
        return cls(shape, target_shape, scale)  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        return self.scale == (1.0, 1.0, 1.0) and self.source_shape == self.target_shape

    @property
    def offset(self) -> tuple[float, float, float]:
        """Source index of target voxel 0 along each axis: ``(r - 1) / 2``."""
        return tuple((r - 1.0) / 2.0 for r in self.scale)  # type: ignore[return-value]

    def index_map(self) -> np.ndarray:
        """4x4 matrix: target voxel index -> source voxel index (continuous)."""
        matrix = np.diag([*self.scale, 1.0])
        matrix[:3, 3] = self.offset
        return matrix

    def apply_affine(self, affine: np.ndarray) -> np.ndarray:
        """The affine of the target grid; its column norms are the target spacing."""
        return np.asarray(affine, dtype=np.float64) @ self.index_map()

    def apply(self, values: np.ndarray, interpolation: Interpolation) -> np.ndarray:
        """Resample ``(..., *source_shape)`` to ``(..., *target_shape)``.

        Returns ``values`` itself (no copy) when the resample is the identity.
        """
        if values.shape[-3:] != self.source_shape:
            raise InputError(f"expected an array of shape (..., {self.source_shape}), got {values.shape}")
        if self.is_identity:
            return values
        return _sample(values, self.scale, self.offset, self.target_shape, interpolation)

    def undo(self, values: np.ndarray, interpolation: Interpolation) -> np.ndarray:
        """Resample ``(..., *target_shape)`` back to ``(..., *source_shape)`` (same rules as :meth:`apply`)."""
        if values.shape[-3:] != self.target_shape:
            raise InputError(f"expected an array of shape (..., {self.target_shape}), got {values.shape}")
        if self.is_identity:
            return values
        inverse_scale = tuple(1.0 / r for r in self.scale)
        inverse_offset = tuple(-o / r for o, r in zip(self.offset, self.scale))
        return _sample(values, inverse_scale, inverse_offset, self.source_shape, interpolation)


def _sample(
    values: np.ndarray,
    scale: Sequence[float],
    offset: Sequence[float],
    output_shape: Sequence[int],
    interpolation: Interpolation,
) -> np.ndarray:
    """``out[..., t] = values[..., scale * t + offset]`` on the last three axes, leading axes untouched."""
    interpolation = parse_interpolation(interpolation)
    lead_shape = values.shape[:-3]
    stacked = values.reshape((-1, *values.shape[-3:]))
    if values.dtype == np.bool_:
        stacked = stacked.view(np.uint8)
    if interpolation == "linear":
        order = 1
        out_dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    else:
        order = 0
        out_dtype = stacked.dtype
    # one call for all channels: scale 1 and offset 0 on the channel axis never mixes channels
    out = ndimage.affine_transform(
        stacked,
        matrix=np.array([1.0, *scale]),
        offset=np.array([0.0, *offset]),
        output_shape=(stacked.shape[0], *output_shape),
        output=out_dtype,
        order=order,
        mode="nearest",
        prefilter=False,
    )
    if values.dtype == np.bool_:
        out = out.view(np.bool_)
    return out.reshape((*lead_shape, *output_shape))
