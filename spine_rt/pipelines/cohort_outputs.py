"""Where a case's outputs go, how they are published, and the cohort's ``summary.csv`` (both tasks).

A :class:`Case` is one scan or picture with its output paths. Planning
checks every path before any work (ending, folder, an existing file without
``overwrite``, never an input): :func:`single_case` for one input,
:func:`cohort_cases` for a folder (``<name>_seg.nii.gz`` / ``<name>_seg.png``
and ``<name>_report.json`` per case in the output folder, ``<name>_qc.png``
in the QC folder; :func:`scans_in_folder` lists a spine MR cohort).
:func:`publish_case` writes labels, QC picture and report together or not
at all; :func:`write_summary` writes one row per case.
:func:`spine_rt.pipelines.cohort.run_cohort` runs a planned cohort.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError

MR_SUFFIX = "_seg.nii.gz"
XRAY_SUFFIX = "_seg.png"
REPORT_SUFFIX = "_report.json"
QC_SUFFIX = "_qc.png"
SUMMARY_NAME = "summary.csv"
#: measured X-ray values copied into the summary
SUMMARY_VALUES = ("PI", "PT", "SS", "LL", "PI-LL", "LDI")


@dataclass(frozen=True)
class Case:
    """One scan or picture and where its results go (``report``/``qc``: ``None`` when not written)."""

    name: str
    input: Path
    output: Path
    report: Path | None
    qc: Path | None

    @property
    def done(self) -> bool:
        return self.output.is_file() and self.report is not None and self.report.is_file()


def label_suffix(task: str) -> str:
    """The label map's file ending for a task: ``_seg.png`` (``xray``) or ``_seg.nii.gz``."""
    return XRAY_SUFFIX if task == "xray" else MR_SUFFIX


def stem(path: Path) -> str:
    """A case name: the file name without ``.nii``/``.nii.gz`` or its suffix, or a folder's name."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem if path.is_file() else name


# ---------------------------------------------------------------- what the input is
def is_xray_input(source: Path) -> bool:
    """An X-ray picture (PNG/JPEG), an X-ray DICOM file (CR, DX), or a folder of PNG/JPEG pictures only."""
    from spine_rt.io.xray_image import is_dicom_file, is_xray_image_path

    if source.is_file():
        if is_dicom_file(source):
            return _is_xray_dicom(source)
        return is_xray_image_path(source)
    if source.is_dir() and not is_mr_cohort(source):
        return any(p.is_file() and is_xray_image_path(p) and not is_dicom_file(p) for p in source.iterdir())
    return False


def is_mr_cohort(folder: Path) -> bool:
    """A folder holding NIfTI files or sub-folders is a cohort; one holding files only is a DICOM series."""
    from spine_rt.io.nifti import is_nifti_path

    return any((p.is_file() and is_nifti_path(p)) or p.is_dir() for p in folder.iterdir())


def _is_xray_dicom(path: Path) -> bool:
    """A single DICOM file whose modality is a projection X-ray (CR, DX)."""
    try:
        import pydicom

        return str(pydicom.dcmread(path, stop_before_pixels=True).get("Modality", "")) in ("CR", "DX", "RG")
    except Exception:  # unreadable: the reader says why later
        return False


def check_single_input(source: Path, task: str, model: str) -> None:
    """Raises InputError when ``source`` is not what a ``task`` model reads (one case)."""
    from spine_rt.io.nifti import is_nifti_path
    from spine_rt.io.xray_image import is_dicom_file, is_xray_image_path

    if task == "xray":
        if source.is_dir() or not (is_xray_image_path(source) or is_dicom_file(source)):
            raise InputError(f"{source}: not an X-ray picture (.png, .jpg, .jpeg, .dcm); "
                             f"the model {model} is an X-ray package")
    elif source.is_file() and not is_nifti_path(source):
        what = "an X-ray picture" if is_xray_image_path(source) else "not a NIfTI file (.nii, .nii.gz)"
        raise InputError(f"{source}: {what}; the model {model} is a spine MR package (NIfTI or DICOM series in)")


# ---------------------------------------------------------------- planning
def single_case(source: Path, task: str, output: str | None, report: str | None, qc: str | None,
                overwrite: bool) -> Case:
    """The case's output paths, each checked (ending, folder, existing file, the input) before any work.

    ``output``: a file, an existing folder (the default name goes there), or
    ``None``: ``./<stem>_seg.nii.gz`` / ``./<stem>_seg.png`` in the current folder.
    """
    from spine_rt.output_paths import check_distinct, check_output_file

    default_name = stem(source) + label_suffix(task)
    labels = Path(output) if output is not None else Path.cwd() / default_name
    if labels.is_dir():
        labels = labels / default_name
    report_path = Path(report) if report is not None else None
    qc_path = Path(qc) if qc is not None else None
    label_suffixes = (".png",) if task == "xray" else (".nii.gz", ".nii")
    for path, what, suffixes in ((labels, "output", label_suffixes), (report_path, "--report", (".json",)),
                                 (qc_path, "--qc", (".png",))):
        if path is not None:
            check_output_file(path, what, suffixes, overwrite, inputs=[source])
    check_distinct((("output", labels), ("--report", report_path), ("--qc", qc_path)))
    return Case(stem(source), source, labels, report_path, qc_path)


def scans_in_folder(folder: str | os.PathLike[str]) -> list[Path]:
    """NIfTI files and sub-folders holding files (DICOM series) of ``folder``, sorted by name.

    Raises:
        InputError: ``folder`` is not a folder, or holds no scan.
    """
    from spine_rt.io.nifti import is_nifti_path

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    scans = [p for p in sorted(root.iterdir()) if (p.is_file() and is_nifti_path(p))
             or (p.is_dir() and any(child.is_file() for child in p.iterdir()))]
    if not scans:
        raise InputError(f"{root}: no NIfTI file (.nii, .nii.gz) or DICOM series folder inside")
    return scans


def cohort_inputs(source: Path, task: str, skip: list[Path]) -> list[Path]:
    """The cases of a folder: X-ray pictures, or NIfTI files and DICOM series folders (not ``skip``)."""
    from spine_rt.io.xray_image import is_xray_image_path

    if task == "xray":
        found = [p for p in sorted(source.iterdir()) if p.is_file() and is_xray_image_path(p)]
        if not found:
            raise InputError(f"{source}: no X-ray picture (.png, .jpg, .jpeg, .dcm) inside")
        return found
    return [p for p in scans_in_folder(source) if not any(_same(p, s) for s in skip if s.exists())]


def cohort_cases(source: Path, task: str, output: str | None, report: str | None,
                 qc: str | None) -> tuple[Path, list[Case]]:
    """``(output folder, cases)`` of a folder input, the folders checked and created (nothing else written).

    ``output``: the output folder (``None``: ``./<input folder name>_seg``); ``qc``: a folder for the QC pictures.

    Raises:
        InputError: ``report`` given (one file for many cases), an output folder that is the input or a file,
            a folder in the way of a case's output.
    """
    from spine_rt.output_paths import check_distinct, check_output_folder

    if report is not None:
        raise InputError("--report names one file; for a folder INPUT every case's report is written into "
                         "OUTPUT as <name>_report.json")
    out_dir = Path(output) if output is not None else Path.cwd() / f"{source.resolve().name}_seg"
    if _same(out_dir, source):
        raise InputError(f"{out_dir}: the output folder is the input folder; choose another -o")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: a folder INPUT needs an output folder, and this is a file")
    check_output_folder(out_dir, "output folder")
    qc_dir = Path(qc) if qc is not None else None
    if qc_dir is not None and qc_dir.exists() and not qc_dir.is_dir():
        raise InputError(f"{qc_dir}: for a folder INPUT, --qc names a folder for the QC pictures")
    if qc_dir is not None:
        check_output_folder(qc_dir, "--qc folder")
    check_distinct((("output folder", out_dir), ("--qc folder", qc_dir)))
    inputs = cohort_inputs(source, task, [out_dir] + ([qc_dir] if qc_dir is not None else []))
    suffix = label_suffix(task)
    stems = [stem(p) for p in inputs]
    cases = []
    for path, name in zip(inputs, stems):
        name = name if stems.count(name) == 1 else f"{name}_{path.suffix.lstrip('.').lower() or 'dir'}"
        cases.append(Case(name, path, out_dir / f"{name}{suffix}", out_dir / f"{name}{REPORT_SUFFIX}",
                          None if qc_dir is None else qc_dir / f"{name}{QC_SUFFIX}"))
    for case in cases:
        for path in (case.output, case.report, case.qc):
            if path is not None and path.is_dir():
                raise InputError(f"{path}: a folder is in the way of case {case.name}'s output")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if qc_dir is not None:
            qc_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        from spine_rt.atomic_write import output_error

        raise output_error(out_dir, error) from error
    return out_dir, cases


def _same(first: Path, second: Path) -> bool:
    return first.resolve() == second.resolve()


# ---------------------------------------------------------------- publishing
def publish_case(result: Any, case: Case, task: str, names: dict[int, str], model: dict[str, Any],
                 overwrite: bool) -> None:
    """Labels, QC picture and report, published together or not at all (:func:`spine_rt.atomic_write.publishing`).

    Without ``overwrite`` an output that another run created meanwhile fails
    the case (an InputError) instead of being replaced.
    """
    from spine_rt.atomic_write import publishing

    with publishing(overwrite=overwrite):
        result.save(case.output)
        _write_qc(result, case, task, names, model)
        _write_report(result, case, model)


def _write_report(result: Any, case: Case, model: dict[str, Any]) -> None:
    from spine_rt.atomic_write import write_bytes_atomic

    if case.report is None:
        return
    # the package identity wins over the X-ray pipeline's bare family name ("model": "mbnet")
    report = {"case": case.name, "output": str(case.output), **result.report, "model": model}
    write_bytes_atomic(case.report, (json.dumps(report, indent=2) + "\n").encode())


def _write_qc(result: Any, case: Case, task: str, names: dict[int, str], model: dict[str, Any]) -> None:
    from spine_rt.measure.qc_picture import mr_qc_picture, xray_qc_picture

    if case.qc is None:
        return
    if task == "xray":
        from spine_rt.io import read_xray_image

        xray = read_xray_image(case.input)
        xray_qc_picture(xray.pixels, result.labels, result.measurement, case.qc, names=names,
                        pixel_spacing_mm=xray.pixel_spacing_mm, phantom_only=model["bundled_demo"])
    else:
        from spine_rt.io import read_image

        mr_qc_picture(read_image(case.input), result.labels, names, case.qc, phantom_only=model["bundled_demo"])


# ---------------------------------------------------------------- summary
def summary_row(case: Case, status: str, report: dict | None, error: str = "", task: str = "") -> dict[str, Any]:
    """One row of ``summary.csv``: status, paths, total seconds, structures, the task's measurements."""
    row: dict[str, Any] = {
        "case": case.name, "status": status, "input": str(case.input),
        "output": str(case.output) if status != "failed" else "",
        "report": str(case.report) if status != "failed" and case.report else "",
        "qc": str(case.qc) if status != "failed" and case.qc else "",
        "seconds": "", "structures": "", "error": error,
    }
    if report:
        row["seconds"] = report.get("seconds", {}).get("total", "")
        row["structures"] = len(report.get("structures", []))
        values = (report.get("measurements") or {}).get("values", {})
        for name in SUMMARY_VALUES:
            row[name] = (values.get(name) or {}).get("value", "")
    if task == "spine_mr":
        from spine_rt.measure.measurement_summary import summary_row as measurement_row

        row.update(measurement_row(report))
    return row


def previous_report(case: Case) -> dict | None:
    """The report a finished case left (``None`` when absent or unreadable)."""
    try:
        return json.loads(case.report.read_text()) if case.report is not None else None
    except (OSError, ValueError):
        return None


def write_summary(out_dir: Path, rows: list[dict[str, Any]], task: str) -> Path:
    """``out_dir/summary.csv`` (atomic), one row per case in ``rows``' order."""
    from spine_rt.atomic_write import write_bytes_atomic

    columns = ["case", "status", "input", "output", "report", "qc", "seconds", "structures", "error"]
    if task == "xray":
        columns += list(SUMMARY_VALUES)
    else:
        from spine_rt.measure.measurement_summary import summary_columns

        columns += summary_columns()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_bytes_atomic(out_dir / SUMMARY_NAME, text.getvalue().encode())
