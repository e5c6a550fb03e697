"""Reading a lateral X-ray: PNG/JPEG (pillow) or a single-frame DICOM (pydicom).

:func:`read_xray_image` returns an :class:`XrayImage`: the grey levels
``(H, W)`` as stored (PNG/JPEG: ``uint8`` or ``uint16``, colour converted
to luminance; DICOM: the modality values, rescale slope/intercept applied,
MONOCHROME1 inverted so that bone is bright as in MONOCHROME2) and the
pixel spacing ``(row, column)`` in mm when the file records it: DICOM
``PixelSpacing`` (0028,0030), else ``ImagerPixelSpacing`` (0018,1164);
None for PNG/JPEG (their dpi says nothing about the patient).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spine_rt.errors import InputError

#: file endings read as X-ray pictures (DICOM is also recognised by its "DICM" preamble)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm", ".dicom")
XRAY_SUFFIXES = PICTURE_SUFFIXES + DICOM_SUFFIXES
_DICOM_MAGIC_OFFSET = 128


@dataclass(frozen=True, eq=False)
class XrayImage:
    """One X-ray picture.

    Attributes:
        pixels: ``(H, W)`` grey levels (bone bright), dtype as read (``uint8``,
            ``uint16`` or ``float64`` for DICOM modality values).
        pixel_spacing_mm: ``(row, column)`` spacing in mm, or None when unknown.
        source: the file read, or None.
        meta: format facts (``format``, DICOM ``photometric`` and ``spacing_tag``).
    """

    pixels: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None = None
    source: Path | None = None
    meta: dict | None = None

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels)
        if pixels.ndim != 2 or min(pixels.shape) < 1:
            raise InputError(f"an X-ray must be a 2D (H, W) picture, got shape {pixels.shape}")
        if not np.all(np.isfinite(pixels)):
            raise InputError("the X-ray has NaN or infinite pixels")
        if self.pixel_spacing_mm is not None:
            object.__setattr__(self, "pixel_spacing_mm", check_pixel_spacing(self.pixel_spacing_mm))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


def check_pixel_spacing(spacing: object) -> tuple[float, float]:
    """``(row, column)`` mm as two positive finite floats.

    Raises:
        InputError: anything else.
    """
    try:
        values = tuple(float(v) for v in spacing)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(f"pixel spacing must be (row, column) in mm, got {spacing!r}") from None
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"pixel spacing must be two positive numbers of mm (row, column), got {spacing!r}")
    return values  # type: ignore[return-value]


def is_dicom_file(path: Path) -> bool:
    """True when ``path`` ends in .dcm/.dicom or carries the DICOM preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(_DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def is_xray_image_path(path: str | os.PathLike) -> bool:
    """True for a file whose name ends in .png, .jpg, .jpeg, .dcm or .dicom."""
    return Path(path).suffix.lower() in XRAY_SUFFIXES


def read_xray_image(path: str | os.PathLike) -> XrayImage:
    """Read an X-ray picture (see the module docstring).

    Raises:
        InputError: missing file, unreadable or multi-frame file, not 2D, no pixel data.
        EnvironmentProblem: compressed DICOM pixels without an installed decoder.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    if is_dicom_file(file):
        return _read_dicom(file)
    return _read_picture(file)


def _read_picture(file: Path) -> XrayImage:
    from PIL import Image as PillowImage, UnidentifiedImageError

    try:
        with PillowImage.open(file) as picture:
            picture.load()
            mode = picture.mode
            if mode in ("I;16", "I;16B", "I;16L"):
                pixels = np.asarray(picture, dtype=np.uint16)
            elif mode in ("I", "F"):
                pixels = np.asarray(picture).astype(np.float64)
            else:
                pixels = np.asarray(picture.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"{file}: not a readable PNG/JPEG picture ({exc})") from None
    return XrayImage(pixels, None, file, {"format": "picture", "mode": mode})


def _read_dicom(file: Path) -> XrayImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    from spine_rt.io.dicom import decoder_is_available, missing_decoder_error

    try:
        dataset = pydicom.dcmread(file)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{file}: not a readable DICOM file ({exc})") from None
    if "PixelData" not in dataset:
        raise InputError(f"{file}: the DICOM file holds no pixel data")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputError(f"{file}: a multi-frame DICOM ({frames} frames); an X-ray must be a single frame")
    transfer_syntax = str(getattr(dataset.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.1"))
    if pydicom.uid.UID(transfer_syntax).is_compressed and not decoder_is_available(transfer_syntax):
        raise missing_decoder_error(transfer_syntax, str(file))
    try:
        stored = dataset.pixel_array
    except (ValueError, AttributeError, TypeError, NotImplementedError) as exc:
        raise InputError(f"{file}: cannot decode the DICOM pixel data ({exc})") from None
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if stored.ndim == 3 and stored.shape[-1] in (3, 4):
        pixels = stored[..., :3].astype(np.float64).mean(axis=-1)
    elif stored.ndim == 2:
        pixels = np.asarray(apply_modality_lut(stored, dataset), dtype=np.float64)
    else:
        raise InputError(f"{file}: DICOM pixel data of shape {stored.shape} is not a 2D picture")
    if photometric == "MONOCHROME1":  # larger values are darker: invert within the range
        pixels = (pixels.min() + pixels.max()) - pixels
    spacing, tag = None, None
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = dataset.get(keyword)
        if value is not None and len(value) == 2:
            try:
                spacing, tag = check_pixel_spacing(value), keyword
                break
            except InputError:
                continue
    return XrayImage(pixels, spacing, file, {"format": "dicom", "photometric": photometric, "spacing_tag": tag})
