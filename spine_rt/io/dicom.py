"""Reading a DICOM series folder (one series of single-frame slices) into an :class:`Image`.

Geometry, from the DICOM standard (PS3.3 C.7.6.2):

* ``ImageOrientationPatient`` = row direction (along which the column index
  grows) then column direction (along which the row index grows), unit
  vectors in the patient LPS frame;
* ``PixelSpacing`` = (distance between rows, distance between columns) in mm;
* ``ImagePositionPatient`` = LPS position of the centre of the first pixel.

Slices are sorted by their position along the slice normal (row x column
direction). The array is ``(I, J, K)`` = (column index, row index, slice),
the affine is built in LPS and converted to RAS+ (x and y negated).

Compressed transfer syntaxes (JPEG 2000, JPEG, JPEG-LS, RLE) decode through
pydicom's optional decoders; a missing decoder is an
:class:`~spine_rt.errors.EnvironmentProblem` naming it and the pip command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.io.image import Image

#: LPS (DICOM) -> RAS+ (NIfTI) world coordinates
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: transfer-syntax family -> (decoder to name, pip command)
_J2K = ("a JPEG 2000 decoder (pylibjpeg-openjpeg)", "pip install pylibjpeg pylibjpeg-openjpeg   # or: pip install 'spine-rt[dicom]'")
_JPEG = ("a JPEG decoder (pylibjpeg-libjpeg)", "pip install pylibjpeg pylibjpeg-libjpeg   # or: pip install python-gdcm")
_JPEG_LS = ("a JPEG-LS decoder (pyjpegls)", "pip install pyjpegls   # or: pip install pylibjpeg pylibjpeg-libjpeg")
_RLE = ("an RLE decoder (pylibjpeg-rle)", "pip install pylibjpeg pylibjpeg-rle")
_ANY = ("a decoder for this transfer syntax (GDCM)", "pip install python-gdcm")
DECODER_HINTS: dict[str, tuple[str, str]] = {
    "1.2.840.10008.1.2.4.90": _J2K,  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": _J2K,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _J2K,  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": _J2K,  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": _J2K,  # HTJ2K
    "1.2.840.10008.1.2.4.50": _JPEG,  # JPEG baseline
    "1.2.840.10008.1.2.4.51": _JPEG,  # JPEG extended
    "1.2.840.10008.1.2.4.57": _JPEG,  # JPEG lossless
    "1.2.840.10008.1.2.4.70": _JPEG,  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": _JPEG_LS,
    "1.2.840.10008.1.2.4.81": _JPEG_LS,
    "1.2.840.10008.1.2.5": _RLE,
}

_GEOMETRY_TOLERANCE = 1e-4  # direction cosines and pixel spacing must agree this well across slices
_SPACING_TOLERANCE = 0.01  # relative: slice gaps may differ this much from their mean


def decoder_is_available(transfer_syntax: str) -> bool:
    """True when pydicom can decode pixel data of ``transfer_syntax`` on this machine."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(pydicom.uid.UID(transfer_syntax)).is_available)
    except NotImplementedError:
        return False


def missing_decoder_error(transfer_syntax: str, where: str) -> EnvironmentProblem:
    """The error for a series whose compressed pixels no installed decoder can read."""
    name = pydicom.uid.UID(transfer_syntax).name
    decoder, command = DECODER_HINTS.get(str(transfer_syntax), _ANY)
    return EnvironmentProblem(f"{where}: reading {name} pixel data needs {decoder}, which is not installed; install it with: {command}")


def read_dicom_series(folder: str | Path) -> Image:
    """Read the one DICOM series in ``folder`` (not recursive; non-DICOM files are ignored).

    Returns:
        an :class:`Image` with array ``(columns, rows, slices)``, modality
        values (RescaleSlope/RescaleIntercept applied: int16/int32 when they
        are integers, else float32), the RAS+ affine, the first slice's
        header (no pixel data) and a ``meta`` summary.

    Raises:
        InputError: no DICOM images, several series, multi-frame or colour
            images, slices of different size/orientation/spacing, missing
            geometry tags, duplicate positions, irregular slice spacing.
        EnvironmentProblem: the pixels are compressed and no decoder for
            their transfer syntax is installed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    slices = _read_slices(folder)
    first = slices[0]
    where = str(folder)
    _check_single_frame_grey(first, where)
    row_dir, col_dir, (row_spacing, col_spacing) = _in_plane_geometry(slices, where)
    normal = np.cross(row_dir, col_dir)
    positions = np.array([_position(ds, where) for ds in slices])
    order = np.argsort(positions @ normal, kind="stable")
    slices = [slices[i] for i in order]
    positions = positions[order]
    slice_step = _slice_step(slices, positions, normal, where)

    transfer_syntax = str(first.file_meta.TransferSyntaxUID)
    if pydicom.uid.UID(transfer_syntax).is_compressed and not decoder_is_available(transfer_syntax):
        raise missing_decoder_error(transfer_syntax, where)

    array = _modality_values(slices, where)  # (columns, rows, slices)

    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * col_spacing  # column index i moves along the row direction
    affine_lps[:3, 1] = col_dir * row_spacing  # row index j moves along the column direction
    affine_lps[:3, 2] = slice_step
    affine_lps[:3, 3] = positions[0]
    header = pydicom.dcmread(slices[0].filename, stop_before_pixels=True)
    meta = {
        "format": "dicom",
        "modality": str(first.get("Modality", "")),
        "series_instance_uid": str(first.get("SeriesInstanceUID", "")),
        "series_description": str(first.get("SeriesDescription", "")),
        "transfer_syntax": transfer_syntax,
        "photometric_interpretation": str(first.get("PhotometricInterpretation", "")),
        "slice_thickness": float(first.get("SliceThickness", 0) or 0),
        "files": tuple(str(ds.filename) for ds in slices),
    }
    return Image(array, LPS_TO_RAS @ affine_lps, source=folder, header=header, meta=meta)


def _read_slices(folder: Path) -> list[Any]:
    slices, series = [], set()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError):
            continue  # not a (readable) DICOM file: ignored, like DICOMDIR or a README
        if "PixelData" not in ds:
            continue
        slices.append(ds)
        series.add(str(ds.get("SeriesInstanceUID", "")))
    if not slices:
        raise InputError(f"{folder}: no DICOM images found in this folder")
    if len(series) > 1:
        raise InputError(
            f"{folder}: holds {len(series)} DICOM series ({', '.join(sorted(series))}); put one series per folder"
        )
    if "TransferSyntaxUID" not in getattr(slices[0], "file_meta", {}):
        raise InputError(f"{folder}: DICOM files without a transfer syntax (no file meta)")
    return slices


def _check_single_frame_grey(ds: Any, where: str) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputError(f"{where}: multi-frame DICOM ({frames} frames) is not supported; export single-frame slices")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise InputError(f"{where}: colour DICOM ({samples} samples per pixel) is not a grey-level scan")


def _in_plane_geometry(slices: list[Any], where: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Row and column direction (LPS unit vectors) and (row spacing, column spacing) in mm, equal in all slices."""
    first = slices[0]
    for tag in ("ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
        if tag not in first:
            raise InputError(f"{where}: the DICOM slices lack {tag}; cannot place them in space")
    orientation = np.array([float(v) for v in first.ImageOrientationPatient])
    spacing = np.array([float(v) for v in first.PixelSpacing])
    if orientation.shape != (6,) or spacing.shape != (2,) or (spacing <= 0).any():
        raise InputError(f"{where}: invalid ImageOrientationPatient/PixelSpacing in {first.filename}")
    for ds in slices[1:]:
        same = (
            "ImageOrientationPatient" in ds
            and "PixelSpacing" in ds
            and np.allclose([float(v) for v in ds.ImageOrientationPatient], orientation, atol=_GEOMETRY_TOLERANCE)
            and np.allclose([float(v) for v in ds.PixelSpacing], spacing, atol=_GEOMETRY_TOLERANCE)
            and (ds.get("Rows"), ds.get("Columns")) == (first.Rows, first.Columns)
        )
        if not same:
            raise InputError(
                f"{where}: slices differ in size, orientation or pixel spacing ({Path(ds.filename).name}); "
                "is there more than one acquisition in this folder?"
            )
    row_dir, col_dir = orientation[:3], orientation[3:]
    row_dir = row_dir / np.linalg.norm(row_dir)
    col_dir = col_dir / np.linalg.norm(col_dir)
    if not np.isfinite(row_dir).all() or not np.isfinite(col_dir).all() or abs(row_dir @ col_dir) > 1e-3:
        raise InputError(f"{where}: ImageOrientationPatient {orientation.tolist()} is not two orthogonal directions")
    return row_dir, col_dir, (float(spacing[0]), float(spacing[1]))


def _position(ds: Any, where: str) -> np.ndarray:
    if "ImagePositionPatient" not in ds:
        raise InputError(f"{where}: {Path(ds.filename).name} lacks ImagePositionPatient; cannot order the slices")
    position = np.array([float(v) for v in ds.ImagePositionPatient])
    if position.shape != (3,) or not np.isfinite(position).all():
        raise InputError(f"{where}: {Path(ds.filename).name} has an invalid ImagePositionPatient")
    return position


def _slice_step(slices: list[Any], positions: np.ndarray, normal: np.ndarray, where: str) -> np.ndarray:
    """The LPS vector from one slice's first pixel to the next's (mm)."""
    if len(slices) == 1:
        ds = slices[0]
        thickness = float(ds.get("SpacingBetweenSlices", 0) or ds.get("SliceThickness", 0) or 0)
        if thickness <= 0:
            raise InputError(f"{where}: a single slice without SliceThickness; its third voxel size is unknown")
        return normal * thickness
    distances = positions @ normal
    gaps = np.diff(distances)
    if (gaps <= _GEOMETRY_TOLERANCE).any():
        k = int(np.argmax(gaps <= _GEOMETRY_TOLERANCE))
        raise InputError(
            f"{where}: two slices share the position {distances[k]:.3f} mm along the normal "
            f"({Path(slices[k].filename).name}, {Path(slices[k + 1].filename).name}); is the series duplicated?"
        )
    mean_gap = float(gaps.mean())
    worst = int(np.argmax(np.abs(gaps - mean_gap)))
    if abs(gaps[worst] - mean_gap) > _SPACING_TOLERANCE * mean_gap:
        raise InputError(
            f"{where}: irregular slice spacing: {gaps[worst]:.3f} mm after slice {worst} against "
            f"{mean_gap:.3f} mm on average; a slice may be missing"
        )
    return (positions[-1] - positions[0]) / (len(slices) - 1)


def _modality_values(slices: list[Any], where: str) -> np.ndarray:
    """Decoded pixels with RescaleSlope/RescaleIntercept applied, as ``(columns, rows, slices)``.

    Integer slope and intercept give int16 (int32 when the values need it),
    anything else float32.
    """
    slopes = [float(ds.get("RescaleSlope", 1) or 1) for ds in slices]
    intercepts = [float(ds.get("RescaleIntercept", 0) or 0) for ds in slices]
    integral = all(v == round(v) and abs(v) < 2**15 for v in slopes + intercepts)
    first = slices[0]
    values = np.empty((int(first.Columns), int(first.Rows), len(slices)), np.int64 if integral else np.float32)
    for k, ds in enumerate(slices):
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises many types for a damaged frame
            raise InputError(f"{where}: cannot decode the pixels of {Path(ds.filename).name} ({exc})") from None
        if pixels.shape != (int(ds.Rows), int(ds.Columns)):
            raise InputError(f"{where}: {Path(ds.filename).name} decodes to shape {pixels.shape}, not one grey slice")
        if integral:
            values[:, :, k] = pixels.T.astype(np.int64) * int(slopes[k]) + int(intercepts[k])
        else:
            values[:, :, k] = pixels.T.astype(np.float32) * np.float32(slopes[k]) + np.float32(intercepts[k])
    if integral:
        low, high = int(values.min()), int(values.max())
        if -(2**15) <= low and high < 2**15:
            return values.astype(np.int16)
        if -(2**31) <= low and high < 2**31:
            return values.astype(np.int32)
    return values
