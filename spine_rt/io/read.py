"""``read_image``: one entry point for every 3D input spine-rt accepts."""

from __future__ import annotations

from pathlib import Path

from spine_rt.errors import InputError
from spine_rt.io.dicom import read_dicom_series
from spine_rt.io.image import Image
from spine_rt.io.nifti import is_nifti_path, read_nifti


def read_image(path: str | Path) -> Image:
    """Read a NIfTI file (``.nii``, ``.nii.gz``) or a DICOM series folder.

    Returns:
        an :class:`Image`: array ``(I, J, K)`` in the source's voxel order,
        RAS+ affine in mm, source path and header.

    Raises:
        InputError: missing path, unsupported or corrupt file, not a single
            3D volume, NaN/Inf voxels, singular affine (one line each).
        EnvironmentProblem: a compressed DICOM series whose decoder is not installed.
    """
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if is_nifti_path(path):
        return read_nifti(path)
    if _looks_like_dicom(path):
        raise InputError(f"{path}: is a single DICOM file; pass the folder that holds its series")
    raise InputError(f"{path}: unsupported input; expected a .nii or .nii.gz file or a DICOM series folder")


def _looks_like_dicom(path: Path) -> bool:
    """DICOM Part 10 files carry ``DICM`` after a 128-byte preamble."""
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False
