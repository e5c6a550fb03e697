"""Reading one DICOM series (single-frame slices or an enhanced multi-frame object) into an :class:`Image`.

The input may be a folder (searched recursively), a ``.zip`` archive, a
DICOMDIR or one multi-frame file (:mod:`spine_rt.io.dicom_files`); its
series are indexed by :mod:`spine_rt.io.dicom_series` and one is chosen
(:mod:`spine_rt.io.series_choice`). Geometry comes from each frame's plane
(:mod:`spine_rt.io.dicom_frames`). Slices are sorted by their position along
the slice normal (row x column direction). The array is ``(I, J, K)`` =
(column index, row index, slice), the affine is built in LPS and converted
to RAS+ (x and y negated). A missing slice is an error naming the files on
either side of the gap; a file that cannot be read or decoded is an error
naming it.

Empty or missing UIDs (anonymised series) are repaired in memory
(:mod:`spine_rt.io.dicom_uids`) and recorded in ``meta["uids_repaired"]``;
``meta["dicom_source"]`` keeps the source headers and which file and frame
each slice came from, for DICOM SEG / SR outputs that reference them.

Compressed transfer syntaxes (JPEG 2000, JPEG, JPEG-LS, RLE) decode through
pydicom's optional decoders; a missing decoder is an
:class:`~spine_rt.errors.EnvironmentProblem` naming it and the pip command.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.io.dicom_frames import FramePlane
from spine_rt.io.dicom_series import DicomSeries, DicomStudy, index_dicom
from spine_rt.io.dicom_uids import repair_uids
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


@dataclass(frozen=True, eq=False)
class DicomSource:
    """The source images of an :class:`Image` read from DICOM, for SEG / SR outputs that reference them.

    Attributes:
        datasets: one header (no pixel data, UIDs repaired) per source file, in file order.
        slices: for each slice ``k`` of the image array, ``(index into datasets, frame index or None)``.
        series: the series that was read.
        uids_repaired: UID keywords that were empty or missing and were filled in (memory only).
    """

    datasets: tuple[Any, ...]
    slices: tuple[tuple[int, int | None], ...]
    series: DicomSeries
    uids_repaired: tuple[str, ...] = ()


def read_dicom_series(path: str | Path, series: str | None = None) -> Image:
    """Read one DICOM series from a folder (recursively), a ``.zip``, a DICOMDIR or a multi-frame file.

    Args:
        path: where the DICOM files are.
        series: which series when there are several (a UID, a series number
            or a description pattern, see :func:`spine_rt.io.series_choice.choose_series`);
            None requires exactly one series.

    Returns:
        an :class:`Image` with array ``(columns, rows, slices)``, modality
        values (RescaleSlope/RescaleIntercept applied: int16/int32 when they
        are integers, else float32), the RAS+ affine, the first slice's
        header (no pixel data) and a ``meta`` summary.

    Raises:
        InputError: no DICOM images, several series without ``series``
            (listing each with number, description and UID), colour images,
            slices of different size/orientation/spacing, missing geometry
            tags, duplicate positions, a missing slice (naming the files
            around the gap), an unreadable file (naming it).
        EnvironmentProblem: the pixels are compressed and no decoder for
            their transfer syntax is installed.
    """
    from spine_rt.io.series_choice import choose_series, describe_series

    study = index_dicom(path)
    if series is None and len(study.series) > 1:
        listed = describe_series(list(study.series))
        raise InputError(f"{study.source}: holds {len(study.series)} DICOM series ({listed}); "
                         "choose one (spine-rt infer --series UID|number|description, or read_dicom_series(path, "
                         "series=...)); spine-rt series lists them")
    return read_series(choose_series(study, request=series).series, study)


def read_series(series: DicomSeries, study: DicomStudy | None = None) -> Image:
    """Read the pixels and geometry of one indexed series (see :func:`read_dicom_series` for what is checked)."""
    where = str(series.fileset.source)
    if study is not None:
        study.check_readable()
    if series.problem:
        raise InputError(series.problem)
    headers = [copy.deepcopy(h) for h in series.headers]
    first = headers[0]
    samples = int(first.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise InputError(f"{where}: colour DICOM ({samples} samples per pixel) is not a grey-level scan")
    _check_same_grid(series, headers, where)
    planes = list(series.planes)
    normal = planes[0].normal
    positions = np.array([p.position for p in planes])
    order = np.argsort(positions @ normal, kind="stable")
    planes = [planes[i] for i in order]
    positions = positions[order]
    slice_step = _slice_step(planes, positions, normal, where)

    file_meta = getattr(first, "file_meta", {})
    transfer_syntax = str(file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in file_meta else ""
    if not transfer_syntax:
        raise InputError(f"{where}: DICOM files without a transfer syntax (no file meta)")
    if pydicom.uid.UID(transfer_syntax).is_compressed and not decoder_is_available(transfer_syntax):
        raise missing_decoder_error(transfer_syntax, where)

    index_of = {name: i for i, name in enumerate(series.files)}
    display = {series.fileset.display_name(name): name for name in series.files}
    refs = tuple((index_of[display[p.file]], p.frame) for p in planes)
    array = _modality_values(series, planes, refs, where)  # (columns, rows, slices)

    row_dir, col_dir = planes[0].orientation[:3], planes[0].orientation[3:]
    row_spacing, col_spacing = planes[0].pixel_spacing
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * col_spacing  # column index i moves along the row direction
    affine_lps[:3, 1] = col_dir * row_spacing  # row index j moves along the column direction
    affine_lps[:3, 2] = slice_step
    affine_lps[:3, 3] = positions[0]
    identity = [f"{series.fileset.display_name(name)}:{h.get('InstanceNumber', '')}:"
                f"{getattr(h, 'file_meta', {}).get('MediaStorageSOPInstanceUID', '')}"
                for name, h in zip(series.files, headers)]
    repaired = tuple(repair_uids(headers, identity))
    header = headers[refs[0][0]]
    meta = {
        "format": "dicom",
        "modality": series.modality,
        "series_instance_uid": str(header.get("SeriesInstanceUID", "")),
        "series_number": series.number,
        "series_description": series.description,
        "transfer_syntax": transfer_syntax,
        "photometric_interpretation": str(first.get("PhotometricInterpretation", "")),
        "slice_thickness": float(planes[0].thickness),
        "multi_frame": series.multi_frame,
        "files": tuple(series.files[index] for index, _ in refs),  # per slice: path (zip: member name)
        "uids_repaired": repaired,
        "dicom_source": DicomSource(tuple(headers), refs, series, repaired),
    }
    return Image(array, LPS_TO_RAS @ affine_lps, source=series.fileset.source, header=header, meta=meta)


def _check_same_grid(series: DicomSeries, headers: list[Any], where: str) -> None:
    """Every frame has the first one's size, orientation and pixel spacing."""
    first_plane = series.planes[0]
    size = (headers[0].get("Rows"), headers[0].get("Columns"))
    for name, header in zip(series.files, headers):
        if (header.get("Rows"), header.get("Columns")) != size:
            raise InputError(f"{where}: slices differ in size ({series.fileset.display_name(name)}); is there "
                             "more than one acquisition in this series?")
    for plane in series.planes[1:]:
        if not (np.allclose(plane.orientation, first_plane.orientation, atol=_GEOMETRY_TOLERANCE)
                and np.allclose(plane.pixel_spacing, first_plane.pixel_spacing, atol=_GEOMETRY_TOLERANCE)):
            frame = f" frame {plane.frame + 1}" if plane.frame is not None else ""
            raise InputError(f"{where}: slices differ in size, orientation or pixel spacing ({plane.file}{frame}); "
                             "is there more than one acquisition in this series?")


def _plane_name(plane: FramePlane) -> str:
    return plane.file if plane.frame is None else f"{plane.file} frame {plane.frame + 1}"


def _slice_step(planes: list[FramePlane], positions: np.ndarray, normal: np.ndarray, where: str) -> np.ndarray:
    """The LPS vector from one slice's first pixel to the next's (mm)."""
    if len(planes) == 1:
        thickness = planes[0].thickness
        if thickness <= 0:
            raise InputError(f"{where}: a single slice without SliceThickness; its third voxel size is unknown")
        return normal * thickness
    distances = positions @ normal
    gaps = np.diff(distances)
    if (gaps <= _GEOMETRY_TOLERANCE).any():
        k = int(np.argmax(gaps <= _GEOMETRY_TOLERANCE))
        raise InputError(
            f"{where}: two slices share the position {distances[k]:.3f} mm along the normal "
            f"({_plane_name(planes[k])}, {_plane_name(planes[k + 1])}); is the series duplicated?"
        )
    typical = float(np.median(gaps))
    off = np.abs(gaps - typical) > _SPACING_TOLERANCE * typical
    if off.any():
        k = int(np.argmax(np.abs(gaps - typical)))
        missing = int(round(gaps[k] / typical)) - 1
        what = (f"{missing} slice{'s' if missing > 1 else ''} missing" if missing >= 1
                and abs(gaps[k] - (missing + 1) * typical) <= _SPACING_TOLERANCE * typical * (missing + 1)
                else "a gap that is not a whole number of slices")
        raise InputError(
            f"{where}: irregular slice spacing: {what} between {_plane_name(planes[k])} (at {distances[k]:.3f} mm) "
            f"and {_plane_name(planes[k + 1])} (at {distances[k + 1]:.3f} mm): a gap of {gaps[k]:.3f} mm against "
            f"{typical:.3f} mm between the other slices"
        )
    return (positions[-1] - positions[0]) / (len(planes) - 1)


def _modality_values(series: DicomSeries, planes: list[FramePlane], refs: tuple[tuple[int, int | None], ...],
                     where: str) -> np.ndarray:
    """Decoded pixels with the rescale of each frame applied, as ``(columns, rows, slices)``.

    Integer slope and intercept give int16 (int32 when the values need it),
    anything else float32. Each file is read and decoded once.

    Raises:
        InputError: a file that cannot be read or decoded (naming it), a frame of the wrong shape.
    """
    slopes = [p.slope for p in planes]
    intercepts = [p.intercept for p in planes]
    integral = all(v == round(v) and abs(v) < 2**15 for v in slopes + intercepts)
    first = series.headers[0]
    rows, columns = int(first.Rows), int(first.Columns)
    values = np.empty((columns, rows, len(planes)), np.int64 if integral else np.float32)
    by_file: dict[int, list[int]] = defaultdict(list)
    for k, (index, _) in enumerate(refs):
        by_file[index].append(k)
    for index, slice_numbers in by_file.items():
        name = series.files[index]
        shown = series.fileset.display_name(name)
        try:
            pixels = series.fileset.read(name).pixel_array
        except Exception as exc:  # pydicom raises many types for a damaged or truncated file
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{where}: cannot read the pixels of {shown} ({reason[:160]}); the file is damaged "
                             "or truncated") from None
        for k in slice_numbers:
            frame = refs[k][1]
            plane = pixels if frame is None else (pixels[frame] if pixels.ndim == 3 else pixels)
            if plane.shape != (rows, columns):
                raise InputError(f"{where}: {shown} decodes to shape {pixels.shape}, not grey slices of "
                                 f"{rows} x {columns}")
            if integral:
                values[:, :, k] = plane.T.astype(np.int64) * int(slopes[k]) + int(intercepts[k])
            else:
                values[:, :, k] = plane.T.astype(np.float32) * np.float32(slopes[k]) + np.float32(intercepts[k])
    if integral:
        low, high = int(values.min()), int(values.max())
        if -(2**15) <= low and high < 2**15:
            return values.astype(np.int16)
        if -(2**31) <= low and high < 2**31:
            return values.astype(np.int32)
    return values
