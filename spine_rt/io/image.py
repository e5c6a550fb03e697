"""The :class:`Image` type: a 3D voxel array with its place in the world.

Conventions (the nibabel ones, used everywhere in spine-rt):

* ``array`` has shape ``(I, J, K)``: the three *voxel axes* of the file, in
  the file's own order. Nothing is transposed on reading; which anatomical
  direction each axis points to is given by :attr:`Image.orientation`.
* ``affine`` is a 4x4 matrix mapping a voxel index ``(i, j, k, 1)`` (the
  voxel *centre*) to world coordinates ``(x, y, z, 1)`` in mm, RAS+ (x grows
  to the patient's Right, y to Anterior, z to Superior). DICOM's LPS world is
  converted to RAS+ on reading.
* ``spacing`` is the length in mm of one step along each voxel axis (the
  norms of the affine's first three columns).
* ``orientation`` is nibabel's ``aff2axcodes``: for each voxel axis the
  letter of the direction it points to, e.g. ``('R', 'A', 'S')`` or
  ``('P', 'S', 'R')``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from spine_rt.errors import InputError

AxisCodes = tuple[str, str, str]


@dataclass(frozen=True, eq=False)
class Image:
    """A 3D image: voxels ``(I, J, K)`` and the affine that places them in RAS+ world (mm).

    Attributes:
        array: voxel values, shape ``(I, J, K)``, any real numeric or bool dtype.
        affine: 4x4 float64, voxel index (centre) -> RAS+ world position in mm.
        source: the file or DICOM series folder it was read from, or None.
        header: the source header: a nibabel NIfTI header, the first slice of a
            DICOM series (a pydicom ``Dataset`` without pixel data), or None.
        meta: small plain facts about the source (format, modality, ...).

    Raises:
        InputError: the array is not 3D, is empty, has NaN/Inf voxels or a
            non-numeric dtype, or the affine is not a finite, invertible 4x4
            matrix with last row ``(0, 0, 0, 1)``.
    """

    array: np.ndarray
    affine: np.ndarray
    source: Path | None = None
    header: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = str(self.source) if self.source is not None else "image"
        array = np.asarray(self.array)
        affine = np.asarray(self.affine, dtype=np.float64)
        check_volume_array(array, where)
        check_affine(affine, where)
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "affine", affine)
        if self.source is not None:
            object.__setattr__(self, "source", Path(self.source))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxel counts along ``(I, J, K)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """mm per voxel step along ``(I, J, K)``."""
        return voxel_spacing(self.affine)

    @property
    def orientation(self) -> AxisCodes:
        """Direction letter of each voxel axis, e.g. ``('R', 'A', 'S')``."""
        return orientation_codes(self.affine)

    def __repr__(self) -> str:
        spacing = ", ".join(f"{s:.4g}" for s in self.spacing)
        return (
            f"Image(shape={self.shape}, dtype={self.array.dtype}, spacing=({spacing}) mm, "
            f"orientation={''.join(self.orientation)}, source={self.source})"
        )


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """mm per voxel step along each voxel axis: the norms of the affine's columns."""
    norms = np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0)
    return tuple(float(n) for n in norms)  # type: ignore[return-value]


def orientation_codes(affine: np.ndarray) -> AxisCodes:
    """nibabel's ``aff2axcodes``: the direction letter of each voxel axis."""
    return tuple(str(c) for c in nib.aff2axcodes(affine))  # type: ignore[return-value]


def check_volume_array(array: np.ndarray, where: str) -> None:
    """Raise :class:`InputError` unless ``array`` is a non-empty, finite, numeric 3D volume."""
    if array.size == 0:
        raise InputError(f"{where}: is empty (shape {array.shape})")
    if array.ndim != 3:
        kind = {0: "a scalar", 1: "1D", 2: "2D"}.get(array.ndim, f"{array.ndim}D")
        raise InputError(f"{where}: is {kind} (shape {array.shape}); a 3D volume is needed")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise InputError(f"{where}: voxels of type {array.dtype} are not real numbers")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise InputError(f"{where}: {bad} voxel(s) are NaN or infinite")


def check_affine(affine: np.ndarray, where: str) -> None:
    """Raise :class:`InputError` unless ``affine`` is a finite, invertible 4x4 voxel-to-world matrix."""
    if affine.shape != (4, 4):
        raise InputError(f"{where}: the affine must be 4x4, got shape {affine.shape}")
    if not np.isfinite(affine).all():
        raise InputError(f"{where}: the affine has NaN or infinite entries")
    if not np.array_equal(affine[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"{where}: the affine's last row must be (0, 0, 0, 1), got {affine[3].tolist()}")
    columns = affine[:3, :3]
    norms = np.linalg.norm(columns, axis=0)
    if (norms == 0).any() or abs(np.linalg.det(columns)) <= 1e-6 * float(np.prod(norms)):
        raise InputError(f"{where}: the affine is singular (voxel axes are zero or parallel): {columns.tolist()}")
