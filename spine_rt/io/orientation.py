"""Reorientation: permute and flip voxel axes so they point where a model expects.

A reorientation moves no voxel value between positions in the world; it only
renumbers voxels, so it is exact and its inverse is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from spine_rt.errors import InputError
from spine_rt.io.image import AxisCodes

#: The voxel axis order the spine MR models (both SSHSNet stages) see:
#: ``(rows, columns, sagittal slices)`` = (superior->inferior,
#: anterior->posterior, left->right), codes ``('I', 'P', 'R')``. Each sagittal
#: slice is a ``(rows, columns)`` picture shown the radiological way (head up,
#: face left); slices come last, as in the stage-two patch 192 x 192 x 12. The
#: 3D MR training scans of ``../shared/data/mr3d`` are already in this order.
#: The model spacing is not fixed here: it comes from each model's manifest.
MR_MODEL_AXES: AxisCodes = ("I", "P", "R")

_OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
_WORLD_AXIS = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}
_POSITIVE = {"R", "A", "S"}


def parse_axis_codes(codes: Sequence[str] | str) -> AxisCodes:
    """Check and normalise axis codes such as ``('I', 'P', 'R')`` or ``"IPR"``.

    Raises:
        InputError: not three letters from R/L, A/P, S/I covering each
            anatomical axis exactly once.
    """
    letters = tuple(str(c).upper() for c in codes)
    if len(letters) != 3 or any(c not in _WORLD_AXIS for c in letters):
        raise InputError(f"axis codes must be three letters from R/L, A/P, S/I, got {codes!r}")
    if sorted(_WORLD_AXIS[c] for c in letters) != [0, 1, 2]:
        raise InputError(f"axis codes must name each of R/L, A/P, S/I once, got {codes!r}")
    return letters  # type: ignore[return-value]


def opposite_codes(codes: Sequence[str]) -> AxisCodes:
    """The codes of the same axes pointing the other way: ``RAS`` -> ``LPI``."""
    return tuple(_OPPOSITE[c] for c in parse_axis_codes(codes))  # type: ignore[return-value]


@dataclass(frozen=True)
class AxisReorientation:
    """A permutation and flip of the last three (voxel) axes of an array.

    Output axis ``a`` is input axis ``permutation[a]``, reversed when
    ``flips[a]``. ``source_shape`` is the input's ``(I, J, K)``.
    """

    permutation: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    source_shape: tuple[int, int, int]

    @classmethod
    def between(cls, affine: np.ndarray, shape: Sequence[int], target: Sequence[str]) -> AxisReorientation:
        """The reorientation that makes voxel axes of ``affine`` point along ``target`` codes.

        For oblique affines each voxel axis is matched to its closest world
        axis (nibabel's ``io_orientation``).
        """
        codes = parse_axis_codes(target)
        # io_orientation: for each voxel axis, (world axis index, +1 or -1)
        source = nib.io_orientation(np.asarray(affine, dtype=np.float64))
        permutation, flips = [], []
        for code in codes:
            world, direction = _WORLD_AXIS[code], (1 if code in _POSITIVE else -1)
            axis = int(np.flatnonzero(source[:, 0] == world)[0])
            permutation.append(axis)
            flips.append(int(source[axis, 1]) != direction)
        return cls(tuple(permutation), tuple(flips), tuple(int(n) for n in shape))  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        return self.permutation == (0, 1, 2) and not any(self.flips)

    @property
    def target_shape(self) -> tuple[int, int, int]:
        """``(I, J, K)`` after reorientation."""
        return tuple(self.source_shape[p] for p in self.permutation)  # type: ignore[return-value]

    def index_map(self) -> np.ndarray:
        """4x4 integer matrix: reoriented voxel index -> source voxel index."""
        matrix = np.zeros((4, 4))
        matrix[3, 3] = 1.0
        for out_axis, (in_axis, flip) in enumerate(zip(self.permutation, self.flips)):
            if flip:
                matrix[in_axis, out_axis] = -1.0
                matrix[in_axis, 3] = self.source_shape[in_axis] - 1
            else:
                matrix[in_axis, out_axis] = 1.0
        return matrix

    def apply_affine(self, affine: np.ndarray) -> np.ndarray:
        """The affine of the reoriented grid (same world positions of voxel centres)."""
        return np.asarray(affine, dtype=np.float64) @ self.index_map()

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Reorient ``values`` of shape ``(..., I, J, K)``; leading axes (channels) are kept.

        Returns a view when possible (no copy).
        """
        lead = values.ndim - 3
        out = np.transpose(values, tuple(range(lead)) + tuple(lead + p for p in self.permutation))
        flip_axes = tuple(lead + a for a, f in enumerate(self.flips) if f)
        return np.flip(out, axis=flip_axes) if flip_axes else out

    def undo(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`apply`: ``(..., *target_shape)`` -> ``(..., *source_shape)``."""
        lead = values.ndim - 3
        flip_axes = tuple(lead + a for a, f in enumerate(self.flips) if f)
        out = np.flip(values, axis=flip_axes) if flip_axes else values
        inverse = np.argsort(self.permutation)
        return np.transpose(out, tuple(range(lead)) + tuple(lead + int(p) for p in inverse))
