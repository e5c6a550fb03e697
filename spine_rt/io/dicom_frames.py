"""One image plane per frame, for classic single-frame slices and enhanced multi-frame objects alike.

Geometry, from the DICOM standard (PS3.3 C.7.6.2 and C.7.6.16):

* ``ImageOrientationPatient`` = row direction (along which the column index
  grows) then column direction (along which the row index grows), unit
  vectors in the patient LPS frame;
* ``PixelSpacing`` = (distance between rows, distance between columns) in mm;
* ``ImagePositionPatient`` = LPS position of the centre of the first pixel.

A single-frame image carries these at the top level. An enhanced
multi-frame object (Enhanced MR/CT Image Storage) carries them in the
functional groups: ``PlanePositionSequence`` per frame,
``PlaneOrientationSequence`` and ``PixelMeasuresSequence`` shared or per
frame, ``PixelValueTransformationSequence`` (rescale) likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError


@dataclass(frozen=True, eq=False)
class FramePlane:
    """Where one frame lies and how its stored values become modality values.

    Attributes:
        file: the file's name (for messages and to fetch its pixels).
        frame: 0-based frame index within a multi-frame object, None for a single-frame image.
        position: ``(3,)`` LPS mm of the first pixel's centre.
        orientation: ``(6,)`` row then column direction cosines (LPS).
        pixel_spacing: (between rows, between columns) mm.
        slope, intercept: rescale to modality values.
        thickness: slice thickness in mm (0 when not recorded).
    """

    file: str
    frame: int | None
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]
    slope: float = 1.0
    intercept: float = 0.0
    thickness: float = 0.0

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal (row direction x column direction), LPS."""
        normal = np.cross(self.orientation[:3], self.orientation[3:])
        return normal / np.linalg.norm(normal)


def frame_count(header: Any) -> int:
    """``NumberOfFrames`` (1 when absent)."""
    try:
        return max(1, int(header.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def is_multi_frame(header: Any) -> bool:
    """True for an enhanced multi-frame object (per-frame functional groups)."""
    return "PerFrameFunctionalGroupsSequence" in header


def frame_planes(header: Any, file: str, where: str) -> list[FramePlane]:
    """Every frame's plane of one file (one entry for a single-frame image).

    Raises:
        InputError: missing or invalid geometry tags (naming the file), a
            classic multi-frame object without functional groups.
    """
    if is_multi_frame(header):
        return _enhanced_planes(header, file, where)
    if frame_count(header) > 1:
        raise InputError(f"{where}: {file} holds {frame_count(header)} frames without per-frame geometry "
                         "(no PerFrameFunctionalGroupsSequence); cannot place them in space")
    for tag in ("ImageOrientationPatient", "PixelSpacing", "ImagePositionPatient"):
        if tag not in header:
            raise InputError(f"{where}: {file} lacks {tag}; cannot place the slices in space")
    return [FramePlane(
        file=file, frame=None,
        position=_vector(header.ImagePositionPatient, 3, "ImagePositionPatient", file, where),
        orientation=_orientation(header.ImageOrientationPatient, file, where),
        pixel_spacing=_spacing(header.PixelSpacing, file, where),
        slope=_number(header.get("RescaleSlope"), 1.0),
        intercept=_number(header.get("RescaleIntercept"), 0.0),
        thickness=_number(header.get("SliceThickness"), 0.0),
    )]


def _enhanced_planes(header: Any, file: str, where: str) -> list[FramePlane]:
    shared = header.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else None
    frames = header.PerFrameFunctionalGroupsSequence
    if len(frames) != frame_count(header):
        raise InputError(f"{where}: {file} has {frame_count(header)} frames but {len(frames)} per-frame groups")
    planes = []
    for index, group in enumerate(frames):
        position = _group_item(group, shared, "PlanePositionSequence")
        orientation = _group_item(group, shared, "PlaneOrientationSequence")
        measures = _group_item(group, shared, "PixelMeasuresSequence")
        if position is None or orientation is None or measures is None or "PixelSpacing" not in measures:
            raise InputError(f"{where}: {file} frame {index + 1} lacks its plane position, orientation or pixel "
                             "spacing; cannot place it in space")
        transform = _group_item(group, shared, "PixelValueTransformationSequence")
        planes.append(FramePlane(
            file=file, frame=index,
            position=_vector(position.ImagePositionPatient, 3, "ImagePositionPatient", file, where),
            orientation=_orientation(orientation.ImageOrientationPatient, file, where),
            pixel_spacing=_spacing(measures.PixelSpacing, file, where),
            slope=_number(transform.get("RescaleSlope") if transform is not None else None, 1.0),
            intercept=_number(transform.get("RescaleIntercept") if transform is not None else None, 0.0),
            thickness=_number(measures.get("SliceThickness"), 0.0),
        ))
    return planes


def _group_item(group: Any, shared: Any, keyword: str) -> Any:
    """The first item of ``keyword`` in the per-frame group, else in the shared group, else None."""
    for source in (group, shared):
        if source is not None and keyword in source and len(source[keyword].value) > 0:
            return source[keyword].value[0]
    return None


def _vector(values: Any, length: int, tag: str, file: str, where: str) -> np.ndarray:
    try:
        vector = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        vector = np.array([])
    if vector.shape != (length,) or not np.isfinite(vector).all():
        raise InputError(f"{where}: {file} has an invalid {tag}")
    return vector


def _orientation(values: Any, file: str, where: str) -> np.ndarray:
    orientation = _vector(values, 6, "ImageOrientationPatient", file, where)
    row, column = orientation[:3], orientation[3:]
    norms = np.linalg.norm(row), np.linalg.norm(column)
    if min(norms) < 1e-6 or abs(row @ column) > 1e-3 * norms[0] * norms[1]:
        raise InputError(f"{where}: {file}: ImageOrientationPatient {orientation.tolist()} is not two "
                         "orthogonal directions")
    return np.concatenate([row / norms[0], column / norms[1]])


def _spacing(values: Any, file: str, where: str) -> tuple[float, float]:
    spacing = _vector(values, 2, "PixelSpacing", file, where)
    if (spacing <= 0).any():
        raise InputError(f"{where}: {file} has a non-positive PixelSpacing {spacing.tolist()}")
    return float(spacing[0]), float(spacing[1])


def _number(value: Any, default: float) -> float:
    try:
        number = float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default
    return number if np.isfinite(number) else default


def orientation_name(orientation: np.ndarray) -> str:
    """``sagittal``, ``coronal`` or ``axial`` by the slice normal's main LPS axis, ``oblique`` beyond 30 degrees."""
    normal = np.cross(orientation[:3], orientation[3:])
    normal = np.abs(normal / np.linalg.norm(normal))
    axis = int(np.argmax(normal))
    if normal[axis] < np.cos(np.deg2rad(30)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]
