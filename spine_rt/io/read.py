"""``read_image``: one entry point for every 3D input spine-rt accepts."""

from __future__ import annotations

from pathlib import Path

from spine_rt.errors import InputError
from spine_rt.io.dicom import read_dicom_series
from spine_rt.io.image import Image
from spine_rt.io.nifti import is_nifti_path, read_nifti


def read_image(path: str | Path, series: str | None = None) -> Image:
    """Read a NIfTI file (``.nii``, ``.nii.gz``) or one DICOM series.

    DICOM comes as a folder (searched recursively), a ``.zip`` archive, a
    DICOMDIR, or one enhanced multi-frame file; ``series`` picks one series
    when there are several (a UID, a number or a description pattern; see
    :func:`spine_rt.io.dicom.read_dicom_series`).

    Returns:
        an :class:`Image`: array ``(I, J, K)`` in the source's voxel order,
        RAS+ affine in mm, source path and header.

    Raises:
        InputError: missing path, unsupported or corrupt file, not a single
            3D volume, NaN/Inf voxels, singular affine (one line each).
        EnvironmentProblem: a compressed DICOM series whose decoder is not installed.
    """
    path = Path(path)
    if path.is_dir() or is_dicom_container(path):
        return read_dicom_series(path, series=series)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if is_nifti_path(path):
        return read_nifti(path)
    if _looks_like_dicom(path):
        if _is_multi_frame_file(path):
            return read_dicom_series(path, series=series)
        raise InputError(f"{path}: is a single DICOM file; pass the folder that holds its series")
    raise InputError(f"{path}: unsupported input; expected a .nii or .nii.gz file, a DICOM series folder, "
                     "a .zip of DICOM files or a DICOMDIR")


def is_dicom_container(path: Path) -> bool:
    """A ``.zip`` archive or a DICOMDIR file (both read as DICOM inputs)."""
    import zipfile

    return path.is_file() and (path.name.upper() == "DICOMDIR" or (path.suffix.lower() == ".zip"
                                                                 and zipfile.is_zipfile(path)))


def _is_multi_frame_file(path: Path) -> bool:
    from spine_rt.io.dicom_frames import frame_count

    try:
        import pydicom

        return frame_count(pydicom.dcmread(path, stop_before_pixels=True)) > 1
    except Exception:  # an unreadable file is reported by the caller's message
        return False


def _looks_like_dicom(path: Path) -> bool:
    """DICOM Part 10 files carry ``DICM`` after a 128-byte preamble."""
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False
