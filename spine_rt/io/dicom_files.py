"""Where DICOM files come from: a folder (searched recursively), a ``.zip`` archive, a DICOMDIR, or one file.

A :class:`DicomFileSet` lists the candidate files of an input once and
reads any of them on demand (headers only, or with pixels). Files inside a
zip archive are read from the archive; nothing is extracted to disk and the
input is never changed.

Which files are DICOM is decided by reading them: a file pydicom cannot
parse is ignored when it does not look like DICOM (a README, a thumbnail),
and reported by name when it does (the ``DICM`` preamble, a ``.dcm`` name,
or a DICOMDIR entry), because a damaged slice must not silently vanish from
a series.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from spine_rt.errors import InputError

_DICOM_MAGIC_OFFSET = 128
_READ_ERRORS = (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                zipfile.BadZipFile, NotImplementedError)
#: directory-record files and OS clutter never read as images
_SKIPPED_NAMES = {"DICOMDIR", "desktop.ini", "thumbs.db", ".ds_store"}


@dataclass(frozen=True)
class UnreadableFile:
    """A file that looks like DICOM but cannot be read: its name and pydicom's reason."""

    name: str
    reason: str


class DicomFileSet:
    """The candidate DICOM files of one input (folder, zip archive, DICOMDIR or single file).

    Attributes:
        source: the path given by the user.
        names: candidate file names: paths for a folder/DICOMDIR/file, archive
            member names for a zip.
        listed: names a DICOMDIR lists (they must be readable), else empty.
    """

    def __init__(self, source: str | Path) -> None:
        self.source = Path(source)
        self.listed: frozenset[str] = frozenset()
        self._zip: Path | None = None
        if self.source.is_dir():
            dicomdir = _find_dicomdir(self.source)
            if dicomdir is not None:
                self.names = _dicomdir_files(dicomdir)
                self.listed = frozenset(self.names)
            else:
                self.names = sorted(str(p) for p in self.source.rglob("*") if _candidate(p))
        elif self.source.is_file() and zipfile.is_zipfile(self.source):
            self._zip = self.source
            try:
                with zipfile.ZipFile(self.source) as archive:
                    self.names = sorted(info.filename for info in archive.infolist()
                                        if not info.is_dir() and _candidate(Path(info.filename)))
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(f"{self.source}: not a readable zip archive ({exc})") from None
        elif self.source.is_file() and self.source.name.upper() == "DICOMDIR":
            self.names = _dicomdir_files(self.source)
            self.listed = frozenset(self.names)
        elif self.source.is_file():
            self.names = [str(self.source)]
            self.listed = frozenset(self.names)
        else:
            raise InputError(f"{self.source}: no such file or folder")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def display_name(self, name: str) -> str:
        """How a file is named in messages: relative to the input folder, or ``archive.zip:member``."""
        if self._zip is not None:
            return f"{self._zip.name}:{name}"
        path = Path(name)
        try:
            return str(path.relative_to(self.source if self.source.is_dir() else self.source.parent))
        except ValueError:
            return str(path)

    def read(self, name: str, stop_before_pixels: bool = False) -> Any:
        """pydicom's ``Dataset`` of one file; raises what pydicom raises (see :data:`_READ_ERRORS`)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged files are reported by name, not by pydicom's warnings
            if self._zip is None:
                return pydicom.dcmread(name, stop_before_pixels=stop_before_pixels)
            with zipfile.ZipFile(self._zip) as archive:
                data = archive.read(name)
            return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)

    def headers(self) -> Iterator[tuple[str, Any | None, UnreadableFile | None]]:
        """``(name, header or None, problem or None)`` for every candidate; non-DICOM files yield neither."""
        for name in self.names:
            try:
                header = self.read(name, stop_before_pixels=True)
            except _READ_ERRORS as exc:
                if name in self.listed or self._looks_like_dicom(name):
                    yield name, None, UnreadableFile(self.display_name(name), _reason(exc))
                continue
            if not _is_image(header):
                if _declares_image(header):  # the file meta says image, the data set ends early
                    yield name, None, UnreadableFile(self.display_name(name), "the file ends before its image "
                                                     "attributes (Rows, Columns); it is truncated")
                continue
            yield name, header, None

    def _looks_like_dicom(self, name: str) -> bool:
        if Path(name).suffix.lower() in (".dcm", ".dicom", ".ima"):
            return True
        try:
            if self._zip is not None:
                with zipfile.ZipFile(self._zip) as archive, archive.open(name) as handle:
                    head = handle.read(_DICOM_MAGIC_OFFSET + 4)
            else:
                with open(name, "rb") as handle:
                    head = handle.read(_DICOM_MAGIC_OFFSET + 4)
        except (OSError, zipfile.BadZipFile):
            return False
        return head[_DICOM_MAGIC_OFFSET:] == b"DICM"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def _candidate(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name.lower() in _SKIPPED_NAMES or name.upper() == "DICOMDIR":
        return False
    return not path.is_dir() if path.exists() else True


#: modalities of derived objects that are not images to segment (a SEG or SR written earlier, presentation states)
NON_IMAGE_MODALITIES = frozenset({"SEG", "SR", "RTSTRUCT", "PR", "KO", "REG", "RTPLAN", "RTDOSE"})


def _is_image(header: Any) -> bool:
    """An image: rows and columns (headers are read without pixels) and not a derived object such as a SEG."""
    if str(header.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return False
    return "Rows" in header and "Columns" in header


def _declares_image(header: Any) -> bool:
    """True when the file meta names an image storage SOP class (so the data set must hold an image)."""
    meta = getattr(header, "file_meta", None)
    sop_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return bool(sop_class) and pydicom.uid.UID(sop_class).name.endswith("Image Storage")


def _find_dicomdir(folder: Path) -> Path | None:
    for name in ("DICOMDIR", "dicomdir"):
        if (folder / name).is_file():
            return folder / name
    return None


def _dicomdir_files(dicomdir: Path) -> list[str]:
    """The image files a DICOMDIR lists (``ReferencedFileID`` of every record), as paths."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fileset = pydicom.dcmread(dicomdir)
    except _READ_ERRORS as exc:
        raise InputError(f"{dicomdir}: not a readable DICOMDIR ({_reason(exc)})") from None
    records = fileset.get("DirectoryRecordSequence")
    if records is None:
        raise InputError(f"{dicomdir}: a DICOMDIR without directory records")
    names = []
    for record in records:
        file_id = record.get("ReferencedFileID")
        if file_id is None:
            continue
        parts = [file_id] if isinstance(file_id, str) else list(file_id)
        names.append(str(dicomdir.parent.joinpath(*parts)))
    if not names:
        raise InputError(f"{dicomdir}: the DICOMDIR lists no files")
    return sorted(set(names))
