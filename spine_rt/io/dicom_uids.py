"""Repairing the empty or missing UIDs of an anonymised series, consistently and in memory only.

Anonymisers often blank ``StudyInstanceUID``, ``SeriesInstanceUID``,
``SOPInstanceUID``, ``SOPClassUID`` or ``FrameOfReferenceUID``. A DICOM SEG
or SR must reference its source by these UIDs, so spine-rt fills them in on
its in-memory copy of the headers (the files are never changed):

* ``SOPClassUID`` / ``SOPInstanceUID`` from the file meta
  (``MediaStorageSOPClassUID`` / ``MediaStorageSOPInstanceUID``) when that
  holds them, else a new UID;
* a missing study, series or frame-of-reference UID gets one new UID shared
  by every file of the series.

New UIDs are derived from the series' own content (pydicom's
``generate_uid`` with the files' pixel-independent identity as entropy), so
two runs on the same files give the same UIDs and a SEG and an SR written
separately still reference the same source. What was repaired is returned
and recorded in the report and in the SEG.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydicom.uid import generate_uid

from spine_rt.errors import InputError

#: the UIDs a series needs for a DICOM SEG / SR to reference it
SERIES_WIDE_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
PER_FILE_UIDS = ("SOPClassUID", "SOPInstanceUID")


def _blank(dataset: Any, keyword: str) -> bool:
    return not str(dataset.get(keyword, "") or "").strip()


def missing_uids(headers: Sequence[Any], frame_of_reference: bool = True) -> list[str]:
    """The UID keywords that are empty or missing in at least one header (``FrameOfReferenceUID`` only when
    ``frame_of_reference``: a projection X-ray has none)."""
    wanted = [k for k in SERIES_WIDE_UIDS if frame_of_reference or k != "FrameOfReferenceUID"] + list(PER_FILE_UIDS)
    return [k for k in wanted if any(_blank(h, k) for h in headers)]


def repair_uids(headers: Sequence[Any], identity: Sequence[str], frame_of_reference: bool = True) -> list[str]:
    """Fill every empty or missing UID of ``headers`` in place (the in-memory copies only).

    Args:
        headers: the series' datasets (pydicom ``Dataset``), changed in place.
        identity: one string per header that identifies its file (its name
            and size, or the file meta's instance UID), the entropy for
            repeatable new UIDs.
        frame_of_reference: also repair ``FrameOfReferenceUID`` (volumes; not projection X-rays).

    Returns:
        the keywords that were repaired (empty when nothing was missing).

    Raises:
        InputError: a file without any SOP class UID (then nothing can reference it).
    """
    repaired = missing_uids(headers, frame_of_reference)
    if not repaired:
        return []
    seed = list(identity)
    for keyword in SERIES_WIDE_UIDS:
        if keyword not in repaired:
            continue
        present = {str(h.get(keyword, "") or "").strip() for h in headers} - {""}
        # one value for the whole series: an existing one if all non-empty headers agree, else a new one
        value = present.pop() if len(present) == 1 else generate_uid(entropy_srcs=[keyword, *seed])
        for header in headers:
            if _blank(header, keyword):
                setattr(header, keyword, value)
    for header, name in zip(headers, identity):
        meta = getattr(header, "file_meta", None)
        if _blank(header, "SOPClassUID"):
            media = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
            if not media:
                raise InputError(f"{name}: has no SOP class UID (empty SOPClassUID and no file meta); "
                                 "cannot tell what kind of image it is, so no DICOM object can reference it")
            header.SOPClassUID = media
        if _blank(header, "SOPInstanceUID"):
            media = str(meta.get("MediaStorageSOPInstanceUID", "") or "") if meta is not None else ""
            header.SOPInstanceUID = media or generate_uid(entropy_srcs=["SOPInstanceUID", name, *seed])
    return repaired
