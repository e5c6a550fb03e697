"""Which series of a study to segment: by the user's ``--series``, else by rule; and the modality check.

The rule (:func:`choose_series` without a request), in order of priority:

1. readable geometry, more than one slice unless nothing else is there;
2. the model's modality (MR before CT for an MR model);
3. sagittal before any other orientation (spine models are sagittal);
4. the series description naming the model's contrast (``T2``), when the
   model's manifest names one (``preprocessing.contrast``);
5. most slices.

The reason is returned with the choice and goes into the report.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from spine_rt.errors import InputError
from spine_rt.io.dicom_series import DicomSeries, DicomStudy

#: the DICOM modality of each model task; X-ray pictures come as CR, DX, RG or RF (fluoroscopy) objects
TASK_MODALITIES = {"spine_mr": frozenset({"MR"}), "xray": frozenset({"CR", "DX", "RG", "RF", "XA", "PX"})}
#: modalities that certainly are not what a task's model was trained on (others, such as OT, cannot tell)
OTHER_TASK_MODALITIES = {"spine_mr": frozenset({"CT", "PT", "NM", "US", "CR", "DX", "RG", "RF", "XA", "MG", "PX"}),
               "xray": frozenset({"MR", "CT", "PT", "NM", "US", "MG"})}


@dataclass(frozen=True)
class SeriesChoice:
    """The chosen series and why (one line for the report and the CLI)."""

    series: DicomSeries
    reason: str
    candidates: int

    def summary(self) -> dict:
        """JSON-ready facts: the series and the reason it was chosen."""
        return {**self.series.summary(), "chosen_because": self.reason, "series_in_input": self.candidates}


def choose_series(study: DicomStudy, request: str | None = None, task: str | None = None,
                  contrast: str | None = None) -> SeriesChoice:
    """The series to segment.

    Args:
        study: the indexed input (:func:`spine_rt.io.dicom_series.index_dicom`).
        request: ``--series``: a SeriesInstanceUID, a series number, or a
            description pattern (``*`` and ``?`` wildcards, else a case-
            insensitive substring); None to choose by rule.
        task: the model's task (``spine_mr``, ``xray``) for the modality rule, or None.
        contrast: the contrast the model was trained on (``T2``), or None.

    Raises:
        InputError: the request matches no series or several (listing them with UID, number and description).
    """
    series = list(study.series)
    if request is not None:
        return _requested(study, request)
    if len(series) == 1:
        return SeriesChoice(series[0], "the only series in the input", 1)
    wanted = TASK_MODALITIES.get(task or "", frozenset())

    def rank(s: DicomSeries) -> tuple:
        return (s.problem is None, s.slices > 1, s.modality in wanted, s.orientation == "sagittal",
                bool(contrast) and mentions_contrast(s.description, contrast), s.slices)

    best = max(series, key=rank)
    top = rank(best)
    reasons = []
    if top[2]:
        reasons.append(f"modality {best.modality}")
    if top[3]:
        reasons.append("sagittal")
    if top[4]:
        reasons.append(f"description names {contrast}")
    reasons.append(f"{best.slices} slices")
    tied = [s for s in series if rank(s) == top and s is not best]
    if tied:
        raise InputError(f"{study.source}: {len(tied) + 1} series are equally good candidates "
                         f"({describe_series([best] + tied)}); choose one with --series UID|number|description")
    return SeriesChoice(best, f"chosen by rule among {len(series)} series: {', '.join(reasons)}", len(series))


def _requested(study: DicomStudy, request: str) -> SeriesChoice:
    text = request.strip()
    series = list(study.series)
    by_uid = [s for s in series if s.uid and s.uid == text]
    if by_uid:
        return SeriesChoice(by_uid[0], f"--series {text} (SeriesInstanceUID)", len(series))
    if text.isdigit():
        by_number = [s for s in series if s.number == int(text)]
        if len(by_number) == 1:
            return SeriesChoice(by_number[0], f"--series {text} (series number)", len(series))
        if len(by_number) > 1:
            raise InputError(f"{study.source}: --series {text}: {len(by_number)} series have that number "
                             f"({describe_series(by_number)}); give the UID instead")
    if any(c in text for c in "*?["):
        matches = [s for s in series if fnmatch.fnmatch(s.description.lower(), text.lower())]
    else:
        matches = [s for s in series if text.lower() in s.description.lower()]
    if len(matches) == 1:
        return SeriesChoice(matches[0], f"--series {text} (description)", len(series))
    if not matches:
        raise InputError(f"{study.source}: --series {text} matches no series UID, number or description; "
                         f"the input holds {describe_series(series)}")
    raise InputError(f"{study.source}: --series {text} matches {len(matches)} series ({describe_series(matches)}); "
                     "give the number or UID")


def describe_series(series: list[DicomSeries]) -> str:
    """``series 3 "T2 SAG" (MR, UID ...); series 4 ...`` for one-line messages."""
    return "; ".join(s.label() for s in series)


def mentions_contrast(description: str, contrast: str) -> bool:
    """True when ``description`` names ``contrast`` as a token (``T2`` in ``sag T2_TSE``, not in ``T21``)."""
    pattern = rf"(?<![A-Za-z0-9]){re.escape(contrast)}(?![0-9])"
    return re.search(pattern, description, flags=re.IGNORECASE) is not None


def check_modality(series: DicomSeries, task: str, model: str, force: bool = False) -> str | None:
    """Refuse a series of the wrong modality for the model (an MR model given CT, an X-ray model given MR).

    Returns:
        None when the modality fits or cannot tell; with ``force``, a warning line instead of the error.

    Raises:
        InputError: one line naming the series, its modality and the model's, with ``--force`` as the way out.
    """
    if series.modality not in OTHER_TASK_MODALITIES.get(task, frozenset()):
        return None
    expected = "/".join(sorted(TASK_MODALITIES[task]))
    message = (f"{series.label()} is {series.modality}, but the model {model} is a {task} model for "
               f"{expected} images")
    if force:
        return message + "; running anyway (--force)"
    raise InputError(message + "; pass --force to run it anyway")
