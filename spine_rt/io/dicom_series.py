"""The DICOM series of an input (folder, zip, DICOMDIR, multi-frame file): what each is, in one table.

:func:`index_dicom` reads every file's header once (no pixels) and groups
them by ``SeriesInstanceUID``; each :class:`DicomSeries` knows its number,
description, modality, orientation (sagittal / coronal / axial / oblique),
slice count (frames of multi-frame objects counted) and voxel spacing.
``spine-rt series DIR`` prints :func:`series_table`; the series chooser
(:mod:`spine_rt.io.series_choice`) and the reader (:mod:`spine_rt.io.dicom`)
work on the same objects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io.dicom_files import DicomFileSet, UnreadableFile
from spine_rt.io.dicom_frames import FramePlane, frame_count, frame_planes, orientation_name


@dataclass(frozen=True, eq=False)
class DicomSeries:
    """One series of an input.

    Attributes:
        uid: ``SeriesInstanceUID`` ('' when missing or empty).
        number: ``SeriesNumber`` or None.
        description: ``SeriesDescription`` ('' when absent).
        modality: ``Modality`` (``MR``, ``CT``, ...).
        files: the series' file names in the input's file set.
        headers: their headers (no pixel data), same order as ``files``.
        planes: one :class:`FramePlane` per frame (empty when the geometry is unreadable).
        problem: why the geometry could not be read, else None.
        fileset: the input's files (to read pixels from).
    """

    uid: str
    number: int | None
    description: str
    modality: str
    files: tuple[str, ...]
    headers: tuple[Any, ...] = field(repr=False)
    planes: tuple[FramePlane, ...] = field(repr=False)
    problem: str | None
    fileset: DicomFileSet = field(repr=False)

    @property
    def slices(self) -> int:
        """Number of image planes (frames of multi-frame objects counted)."""
        return len(self.planes) if self.planes else sum(frame_count(h) for h in self.headers)

    @property
    def orientation(self) -> str:
        """``sagittal``, ``coronal``, ``axial``, ``oblique``, ``mixed`` or ``unknown``."""
        if not self.planes:
            return "unknown"
        names = {orientation_name(p.orientation) for p in self.planes}
        return names.pop() if len(names) == 1 else "mixed"

    @property
    def spacing(self) -> tuple[float, float, float] | None:
        """(between rows, between columns, between slices) in mm; slice gap = median along the normal."""
        if not self.planes:
            return None
        first = self.planes[0]
        if len(self.planes) == 1:
            gap = first.thickness
        else:
            along = np.sort([p.position @ first.normal for p in self.planes])
            gaps = np.diff(along)
            gap = float(np.median(gaps)) if gaps.size else 0.0
        return first.pixel_spacing[0], first.pixel_spacing[1], float(gap)

    @property
    def multi_frame(self) -> bool:
        return any(p.frame is not None for p in self.planes)

    def label(self) -> str:
        """``series 3 "T2 SAG" (MR, UID 1.2.3...)`` for messages and the report."""
        number = f"series {self.number}" if self.number is not None else "series (no number)"
        uid = f"UID {self.uid}" if self.uid else "no UID"
        return f'{number} "{self.description}" ({self.modality or "no modality"}, {uid})'

    def summary(self) -> dict[str, Any]:
        """Plain facts for the report (JSON-ready)."""
        spacing = self.spacing
        return {
            "series_instance_uid": self.uid, "series_number": self.number, "description": self.description,
            "modality": self.modality, "orientation": self.orientation, "slices": self.slices,
            "spacing_mm": None if spacing is None else [round(v, 4) for v in spacing],
            "multi_frame": self.multi_frame, "files": len(self.files),
        }


@dataclass(frozen=True, eq=False)
class DicomStudy:
    """Every series of one input, and the files that looked like DICOM but could not be read."""

    source: Path
    series: tuple[DicomSeries, ...]
    unreadable: tuple[UnreadableFile, ...]

    def check_readable(self) -> None:
        """Raise :class:`InputError` naming the first unreadable file (a damaged slice must not vanish)."""
        if self.unreadable:
            bad = self.unreadable[0]
            more = f" (and {len(self.unreadable) - 1} more)" if len(self.unreadable) > 1 else ""
            raise InputError(f"{self.source}: cannot read the DICOM file {bad.name}{more}: {bad.reason}; "
                             "the file is damaged or truncated (remove it, or copy the series again)")


def index_dicom(path: str | Path) -> DicomStudy:
    """Group the DICOM images of ``path`` (folder, recursively; ``.zip``; DICOMDIR; one file) by series.

    Raises:
        InputError: nothing readable as a DICOM image, a bad zip or DICOMDIR.
    """
    files = DicomFileSet(path)
    groups: dict[tuple, list[tuple[str, Any]]] = defaultdict(list)
    unreadable: list[UnreadableFile] = []
    for name, header, problem in files.headers():
        if problem is not None:
            unreadable.append(problem)
            continue
        groups[_series_key(header)].append((name, header))
    if not groups:
        if unreadable:
            DicomStudy(files.source, (), tuple(unreadable)).check_readable()
        raise InputError(f"{files.source}: no DICOM images found")
    series = [_series(files, members) for members in groups.values()]
    series.sort(key=lambda s: (s.number is None, s.number or 0, s.description, s.uid))
    return DicomStudy(files.source, tuple(series), tuple(unreadable))


def _series_key(header: Any) -> tuple:
    uid = str(header.get("SeriesInstanceUID", "") or "").strip()
    if uid:
        return (uid,)
    # no UID (anonymised): keep files of one acquisition together by what else they share
    return ("", str(header.get("SeriesNumber", "")), str(header.get("Modality", "")),
            str(header.get("SeriesDescription", "")), str(header.get("FrameOfReferenceUID", "")))


def _series(files: DicomFileSet, members: list[tuple[str, Any]]) -> DicomSeries:
    members.sort(key=lambda item: item[0])
    first = members[0][1]
    planes: list[FramePlane] = []
    problem = None
    try:
        for name, header in members:
            planes.extend(frame_planes(header, files.display_name(name), str(files.source)))
    except InputError as exc:
        problem, planes = str(exc), []
    try:
        number = int(first.get("SeriesNumber")) if first.get("SeriesNumber") not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return DicomSeries(
        uid=str(first.get("SeriesInstanceUID", "") or "").strip(), number=number,
        description=str(first.get("SeriesDescription", "") or "").strip(),
        modality=str(first.get("Modality", "") or "").strip().upper(),
        files=tuple(name for name, _ in members), headers=tuple(h for _, h in members),
        planes=tuple(planes), problem=problem, fileset=files,
    )


def series_table(study: DicomStudy) -> str:
    """A text table of the series: number, description, modality, orientation, slices, spacing, UID."""
    rows = [("number", "description", "modality", "orientation", "slices", "spacing (mm)", "series UID")]
    for series in study.series:
        spacing = series.spacing
        shown = "?" if spacing is None else " x ".join(f"{v:.3g}" for v in spacing)
        rows.append((str(series.number) if series.number is not None else "-", series.description or "-",
                     series.modality or "-", series.orientation + (" (multi-frame)" if series.multi_frame else ""),
                     str(series.slices), shown, series.uid or "(none)"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for series in study.series:
        if series.problem:
            lines.append(f"! {series.label()}: {series.problem}")
    for bad in study.unreadable:
        lines.append(f"! unreadable file {bad.name}: {bad.reason}")
    return "\n".join(lines)
