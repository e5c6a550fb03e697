"""Reading NIfTI files (``.nii``, ``.nii.gz``; NIfTI-1 and NIfTI-2) into an :class:`Image`."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from spine_rt.errors import InputError
from spine_rt.io.image import Image

NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")

#: what a corrupt or truncated file makes nibabel/gzip/numpy raise
_READ_ERRORS = (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error, struct.error)


def is_nifti_path(path: Path) -> bool:
    """True when the file name ends in ``.nii`` or ``.nii.gz`` (any case)."""
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | Path) -> Image:
    """Read a NIfTI volume: voxels as stored (scl_slope/inter applied), affine = nibabel's best affine.

    The array keeps the file's axis order ``(I, J, K)`` and, when the header
    has no scaling, its dtype. A 4D file with one volume (or trailing
    singleton dimensions) is squeezed to 3D.

    Raises:
        InputError: missing file, not a NIfTI image, truncated/corrupt data,
            not 3D, several volumes, empty, NaN/Inf voxels, singular affine.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        image = nib.load(path, mmap=False)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: not a readable NIfTI image ({_one_line(exc)})") from None
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{path}: is a {type(image).__name__}, not a NIfTI image")
    try:
        array = np.asanyarray(image.dataobj)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: the voxel data is truncated or corrupt ({_one_line(exc)})") from None
    array = squeeze_to_volume(np.asarray(array), str(path))
    header = image.header
    _refuse_zero_voxel_size(path, type(header), int(header["sform_code"]))
    meta = {
        "format": "nifti",
        "qform_code": int(header["qform_code"]),
        "sform_code": int(header["sform_code"]),
        "stored_dtype": str(header.get_data_dtype()),
    }
    return Image(array, image.affine, source=path, header=header, meta=meta)


def _refuse_zero_voxel_size(path: Path, header_class: type, sform_code: int) -> None:
    """Refuse a header whose voxel size (pixdim) is zero or not finite where the affine depends on it.

    nibabel quietly takes such a voxel size as 1 mm; without an sform the
    affine is built from pixdim, so the scan's size in mm would be invented.
    """
    if sform_code > 0:
        return
    try:
        with nib.openers.ImageOpener(path) as stream:
            raw = header_class.from_fileobj(stream, check=False)
    except Exception:  # the header was read once already; nothing more to learn here
        return
    sizes = np.asarray(raw["pixdim"][1:4], dtype=np.float64)
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        shown = " x ".join(f"{s:g}" for s in sizes)
        raise InputError(f"{path}: voxel size {shown} mm in the header and no sform: the scan's size in mm is "
                         "unknown; fix the header (pixdim) first")


def squeeze_to_volume(array: np.ndarray, where: str) -> np.ndarray:
    """Drop trailing singleton axes beyond the third; refuse several volumes.

    Raises:
        InputError: a 4D (or higher) array with more than one volume.
    """
    if array.ndim > 3:
        extra = array.shape[3:]
        if any(n != 1 for n in extra):
            volumes = int(np.prod(extra))
            raise InputError(
                f"{where}: has {volumes} volumes (shape {array.shape}); spine-rt needs a single 3D volume"
            )
        array = array.reshape(array.shape[:3])
    return array


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
