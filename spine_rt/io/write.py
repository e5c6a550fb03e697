"""Writing label maps and float volumes as NIfTI, atomically, in the input's geometry.

Every write goes to a temporary file in the destination folder, is flushed
to disk, then renamed over the destination with :func:`os.replace`; a reader
never sees a half-written file, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from spine_rt.atomic_write import write_file_atomic
from spine_rt.errors import InputError
from spine_rt.io.image import Image
from spine_rt.io.nifti import is_nifti_path

#: NIfTI xform codes: 1 = scanner anatomical (DICOM), 2 = aligned to another file
SCANNER_CODE = 1
ALIGNED_CODE = 2


def save_labels(labels: np.ndarray | Image, like: Image, path: str | Path) -> Path:
    """Write a label map on ``like``'s grid as NIfTI (uint8, or uint16 above 255), atomically.

    The header geometry is ``like``'s: its affine, and its qform/sform codes
    when ``like`` came from a NIfTI file (else both codes 1 for a DICOM
    source, 2 otherwise). The data scaling is reset (slope 1, intercept 0).

    Args:
        labels: integer or bool ``(I, J, K)`` array of ``like.shape``, values
            0..65535 (or an :class:`Image` holding one).
        like: the image the labels belong to (usually the input scan).
        path: destination ending in ``.nii`` or ``.nii.gz``.

    Returns:
        the written path.

    Raises:
        InputError: wrong shape, non-integer or out-of-range labels, a bad
            destination, or a destination that is ``like``'s own source file.
    """
    array = labels.array if isinstance(labels, Image) else np.asarray(labels)
    if array.shape != like.shape:
        raise InputError(f"labels of shape {array.shape} do not match the image's shape {like.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InputError(f"labels must be integers, got dtype {array.dtype}")
    low = int(array.min()) if array.size else 0
    high = int(array.max()) if array.size else 0
    if low < 0 or high > np.iinfo(np.uint16).max:
        raise InputError(f"label values must lie in 0..65535, got {low}..{high}")
    dtype = np.uint8 if high <= np.iinfo(np.uint8).max else np.uint16
    return _write_nifti(array.astype(dtype, copy=False), like, Path(path))


def save_image(image: Image, path: str | Path, like: Image | None = None) -> Path:
    """Write a volume as float32 NIfTI, atomically, in ``like``'s geometry (default: ``image``'s own).

    Raises:
        InputError: shape mismatch with ``like``, a bad destination, or a
            destination that is the source file of ``like`` or ``image``.
    """
    like = image if like is None else like
    if image.shape != like.shape:
        raise InputError(f"image of shape {image.shape} does not match the reference shape {like.shape}")
    if image.source is not None:
        _refuse_source(Path(path), image.source)
    return _write_nifti(image.array.astype(np.float32, copy=False), like, Path(path))


def _write_nifti(array: np.ndarray, like: Image, path: Path) -> Path:
    if not is_nifti_path(path):
        raise InputError(f"{path}: the output name must end in .nii or .nii.gz")
    if like.source is not None:
        _refuse_source(path, like.source)
    if path.is_dir():
        raise InputError(f"{path}: is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"{folder}: the output folder does not exist")
    nifti = _nifti_like(array, like)
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else ".nii"
    write_file_atomic(path, lambda temporary: nib.save(nifti, temporary), suffix=suffix)
    return path


def _nifti_like(array: np.ndarray, like: Image) -> nib.Nifti1Image:
    """A NIfTI image of ``array`` with ``like``'s affine and xform codes."""
    source_header = like.header if isinstance(like.header, nib.Nifti1Header) else None
    if source_header is not None:
        image_class = nib.Nifti2Image if isinstance(source_header, nib.Nifti2Header) else nib.Nifti1Image
        header = source_header.copy()
        qform_code = int(source_header["qform_code"])
        sform_code = int(source_header["sform_code"])
        if qform_code == 0 and sform_code == 0:
            qform_code = sform_code = ALIGNED_CODE
    else:
        image_class, header = nib.Nifti1Image, None
        code = SCANNER_CODE if like.meta.get("format") == "dicom" else ALIGNED_CODE
        qform_code = sform_code = code
    nifti = image_class(array, like.affine, header=header)
    nifti.set_data_dtype(array.dtype)
    nifti.header.set_slope_inter(1.0, 0.0)
    nifti.set_sform(like.affine, code=sform_code)
    nifti.set_qform(like.affine, code=qform_code)
    return nifti


def _refuse_source(path: Path, source: Path) -> None:
    """Raise :class:`InputError` when ``path`` is ``source`` (or a file inside a DICOM source folder)."""
    target = path.resolve()
    original = Path(source).resolve()
    if target == original or (path.exists() and original.exists() and os.path.samefile(path, original)):
        raise InputError(f"{path}: refusing to overwrite the input image; choose another output path")
    if original.is_dir() and original in target.parents:
        raise InputError(f"{path}: refusing to write into the input DICOM series folder")
