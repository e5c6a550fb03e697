"""Padding a model-grid volume to the sizes the networks need, and taking it off again.

The pipeline pads the cropped ``(X, Y, Z)`` volume with background (0):

* in-plane to a multiple of ``stage_one_factor * 4`` voxels, so that the
  half-resolution grid of stage one and its features (stride 4 there, 1/8
  of the full resolution) tile the volume exactly;
* on every axis to at least the stage-two patch, so every stage-two window
  lies inside the volume (a scan with 8 sagittal slices and a 12-slice patch
  gets 2 empty slices before and 2 after).

The padding is split evenly, the odd voxel after; :meth:`VolumePadding.unpad`
removes it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VolumePadding:
    """``(before, after)`` voxels of padding per axis of a ``(X, Y, Z)`` volume.

    Attributes:
        source_shape: the shape before padding.
        widths: per axis ``(before, after)``.
    """

    source_shape: tuple[int, int, int]
    widths: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

    @classmethod
    def to_fit(
        cls,
        shape: Sequence[int],
        multiple: Sequence[int] = (1, 1, 1),
        minimum: Sequence[int] = (1, 1, 1),
    ) -> VolumePadding:
        """The padding that makes each axis a multiple of ``multiple`` and at least ``minimum``."""
        widths = []
        for size, step, least in zip(shape, multiple, minimum):
            target = max(int(least), int(size))
            target = int(math.ceil(target / step) * step)
            extra = target - int(size)
            widths.append((extra // 2, extra - extra // 2))
        return cls(tuple(int(n) for n in shape), tuple(widths))  # type: ignore[arg-type]

    @property
    def shape(self) -> tuple[int, int, int]:
        """The padded shape."""
        return tuple(n + a + b for n, (a, b) in zip(self.source_shape, self.widths))  # type: ignore[return-value]

    @property
    def is_identity(self) -> bool:
        return all(a == 0 and b == 0 for a, b in self.widths)

    def pad(self, values: np.ndarray, value: float = 0.0) -> np.ndarray:
        """``(..., *source_shape)`` -> ``(..., *shape)``, new voxels set to ``value``."""
        if self.is_identity:
            return values
        lead = [(0, 0)] * (values.ndim - 3)
        return np.pad(values, [*lead, *self.widths], mode="constant", constant_values=value)

    def unpad(self, values: np.ndarray) -> np.ndarray:
        """``(..., *shape)`` -> ``(..., *source_shape)`` (a view)."""
        index = tuple(slice(a, a + n) for n, (a, _) in zip(self.source_shape, self.widths))
        return values[(Ellipsis, *index)]
