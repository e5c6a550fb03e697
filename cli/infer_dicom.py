"""``spine-rt infer`` on DICOM: series choice, modality check, DICOM SEG and SR outputs.

:func:`run_dicom_case` takes over one ``infer`` case when DICOM options or
DICOM-only inputs are involved, and returns None otherwise (the NIfTI and
cohort routes of :mod:`spine_rt.cli.infer` are unchanged):

* a spine MR model and INPUT a DICOM series folder (files only), a folder
  with a DICOMDIR, a ``.zip``, a DICOMDIR file or an enhanced multi-frame
  file: the series is chosen (``--series`` or the rule of
  :mod:`spine_rt.io.series_choice`), its modality checked (``--force``), and
  the labels written as NIfTI (default) or a DICOM SEG
  (``--output-type dicom-seg``), plus ``--sr FILE.dcm``;
* an X-ray model and a DICOM picture with ``--output-type dicom-seg``: the
  SEG on the source image and the lumbar values in the SR.

The chosen series and why, and what was written, go into the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spine_rt.errors import EXIT_OK, InputError

OUTPUT_TYPES = ("nifti", "dicom-seg")
SEG_SUFFIX = "_seg.dcm"


def add_options(parser: argparse.ArgumentParser) -> None:
    """The DICOM options of ``spine-rt infer``."""
    parser.add_argument("--output-type", choices=OUTPUT_TYPES, default=None,
                        help="nifti (default; X-ray: PNG) or dicom-seg (a DICOM Segmentation on the source DICOM "
                        "series or X-ray; OUTPUT ends in .dcm, default ./<stem>_seg.dcm)")
    parser.add_argument("--sr", metavar="FILE.dcm", default=None,
                        help="also write a DICOM TID 1500 measurement report (volumes per structure, X-ray values) "
                        "referencing the SEG's segments (needs --output-type dicom-seg)")
    parser.add_argument("--series", metavar="UID|NUMBER|PATTERN", default=None,
                        help="DICOM input with several series: the SeriesInstanceUID, series number or description "
                        "pattern to segment (default: chosen by rule; `spine-rt series INPUT` lists them)")
    parser.add_argument("--list-series", action="store_true",
                        help="list the DICOM series of INPUT (as `spine-rt series`) and stop")
    parser.add_argument("--force", action="store_true",
                        help="run a series whose modality does not fit the model (an MR model on CT)")


def _is_dicom_study(source: Path, asked: bool) -> bool:
    """A DICOM input for one case: a folder of files only (or with a DICOMDIR; with DICOM options, any folder
    without NIfTI files: its sub-folders are searched), a zip, a DICOMDIR or a multi-frame file."""
    from spine_rt.io.nifti import is_nifti_path
    from spine_rt.io.read import _is_multi_frame_file, _looks_like_dicom, is_dicom_container

    if source.is_dir():
        if (source / "DICOMDIR").is_file():
            return True
        entries = list(source.iterdir())
        if any(p.is_file() and is_nifti_path(p) for p in entries):
            return False
        return asked or not any(p.is_dir() for p in entries)
    return is_dicom_container(source) or (_looks_like_dicom(source) and _is_multi_frame_file(source))


def _dicom_options(args: argparse.Namespace) -> list[str]:
    return [flag for flag, value in (("--output-type dicom-seg", args.output_type == "dicom-seg"),
                                     ("--sr", args.sr), ("--series", args.series), ("--force", args.force)) if value]


def run_dicom_case(args: argparse.Namespace, package: Any, source: Path, task: str,
                   model: dict[str, Any]) -> int | None:
    """Run one DICOM case (see the module docstring); None when INPUT and options are not for this route.

    Raises:
        InputError: DICOM options on a non-DICOM input, bad outputs, no or several matching series, a
            series of the wrong modality without ``--force``, a damaged series.
    """
    if args.list_series:
        from spine_rt.cli.series import list_series

        return list_series(source, package)
    options = _dicom_options(args)
    if args.sr is not None and args.output_type != "dicom-seg":
        raise InputError("--sr needs --output-type dicom-seg: its measurements reference the SEG's segments")
    if task == "xray":
        from spine_rt.io.xray_image import is_dicom_file

        dicom_file = source.is_file() and is_dicom_file(source)
        if dicom_file:
            _check_xray_modality(source, package, args.force)
        if not options:
            return None
        if not dicom_file:
            raise InputError(f"{source}: {', '.join(options)} need a DICOM X-ray (one .dcm file)")
        return _run_xray(args, package, source, model)
    if not _is_dicom_study(source, asked=bool(options)):
        if options:
            raise InputError(f"{source}: {', '.join(options)} need a DICOM input (a series folder, .zip, DICOMDIR "
                             "or multi-frame file)")
        return None
    return _run_mr(args, package, source, model)


# ---------------------------------------------------------------- outputs
def _stem(source: Path) -> str:
    """``study`` for ``study.zip`` or ``study/``; a DICOMDIR file is named by its folder."""
    if source.is_file() and source.name.upper() == "DICOMDIR":
        return source.resolve().parent.name
    return source.stem if source.is_file() else source.resolve().name


def _outputs(args: argparse.Namespace, source: Path, default_suffix: str) -> tuple[Path, Path | None, Path | None,
                                                                                    Path | None]:
    """(label output, SR, report, QC), each checked: not the input, not inside it, folder exists, no clobbering."""
    default_name = _stem(source) + (SEG_SUFFIX if args.output_type == "dicom-seg" else default_suffix)
    output = Path(args.output) if args.output is not None else Path.cwd() / default_name
    if output.is_dir():
        output = output / default_name
    if args.output_type == "dicom-seg" and output.suffix.lower() != ".dcm":
        raise InputError(f"{output}: a DICOM SEG output must end in .dcm")
    sr = Path(args.sr) if args.sr is not None else None
    report = Path(args.report) if args.report is not None else None
    qc = Path(args.qc) if args.qc is not None else None
    if sr is not None and sr.suffix.lower() != ".dcm":
        raise InputError(f"{sr}: the SR is a DICOM file; the name must end in .dcm")
    if report is not None and report.suffix.lower() != ".json":
        raise InputError(f"{report}: the report is JSON; the name must end in .json")
    seen: dict[Path, str] = {}
    for path, what in ((output, "output"), (sr, "--sr"), (report, "--report"), (qc, "--qc")):
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in seen:
            raise InputError(f"{path}: the {what} and the {seen[resolved]} are the same file")
        seen[resolved] = what
        if resolved == source.resolve() or (source.is_dir() and source.resolve() in resolved.parents):
            raise InputError(f"{path}: refusing to write the {what} into the input")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: the folder for the {what} does not exist")
        if path.is_dir():
            raise InputError(f"{path}: the {what} is a folder")
        if path.exists() and not args.overwrite:
            raise InputError(f"{path} exists; pass --overwrite to replace it")
    return output, sr, report, qc


def _write_report(path: Path | None, report: dict[str, Any]) -> None:
    from spine_rt.atomic_write import write_bytes_atomic

    if path is not None:
        write_bytes_atomic(path, (json.dumps(report, indent=2) + "\n").encode())


def _print_done(written: list[tuple[str, Path]], lines: list[str]) -> None:
    print(f"wrote {written[0][1]}")
    print("\n".join(lines))
    for what, path in written[1:]:
        print(f"  {what}: {path}")


# ---------------------------------------------------------------- MR
def _run_mr(args: argparse.Namespace, package: Any, source: Path, model: dict[str, Any]) -> int:
    from spine_rt.cli.infer import _announce, _load, _print_input_warnings
    from spine_rt.pipelines.cohort_outputs import MR_SUFFIX
    from spine_rt.dicom_out.dicom_outputs import SourceImages, require_highdicom
    from spine_rt.io.dicom import read_series
    from spine_rt.io.dicom_series import index_dicom
    from spine_rt.io.series_choice import check_modality, choose_series

    output, sr, report_path, qc = _outputs(args, source, MR_SUFFIX)
    if args.output_type == "dicom-seg":
        require_highdicom()  # before any work
    study = index_dicom(source)
    contrast = package.manifest.preprocessing.get("contrast")
    choice = choose_series(study, request=args.series, task="spine_mr", contrast=contrast)
    warning = check_modality(choice.series, "spine_mr", str(package.root), force=args.force)
    if warning:
        print(f"spine-rt infer: warning: {warning}", file=sys.stderr)
    image = read_series(choice.series, study)
    print(f"series: {choice.series.label()}: {choice.reason}")
    with _load(args, package) as pipe:
        _announce(model)
        result = pipe(image)
    _print_input_warnings(result)
    names = package.manifest.labels
    extra: dict[str, Any] = {"input_series": choice.summary(),
                             "source_uids_generated": list(image.meta.get("uids_repaired", ()))}

    def draw_qc(path: Path) -> None:
        from spine_rt.measure.qc_picture import mr_qc_picture

        mr_qc_picture(image, result.labels, names, path, phantom_only=model["bundled_demo"])

    source_images = SourceImages.of_image(image) if args.output_type == "dicom-seg" else None
    return _publish_case(args, package, source, model, result, "spine_mr", source_images, draw_qc, extra,
                         (output, sr, report_path, qc))


# ---------------------------------------------------------------- X-ray
def _check_xray_modality(source: Path, package: Any, force: bool) -> None:
    """An X-ray model given an MR/CT/... DICOM file: one line, or a warning with ``--force``."""
    import pydicom

    from spine_rt.io.series_choice import OTHER_TASK_MODALITIES, TASK_MODALITIES

    try:
        modality = str(pydicom.dcmread(source, stop_before_pixels=True).get("Modality", "") or "").upper()
    except Exception:  # an unreadable file is reported by the X-ray reader with its reason
        return
    if modality not in OTHER_TASK_MODALITIES["xray"]:
        return
    message = (f"{source} is {modality}, but the model {package.root} is an xray model for "
               f"{'/'.join(sorted(TASK_MODALITIES['xray']))} images")
    if not force:
        raise InputError(message + "; pass --force to run it anyway")
    print(f"spine-rt infer: warning: {message}; running anyway (--force)", file=sys.stderr)


def _run_xray(args: argparse.Namespace, package: Any, source: Path, model: dict[str, Any]) -> int:
    from spine_rt.cli.infer import _announce, _load, _print_input_warnings
    from spine_rt.pipelines.cohort_outputs import XRAY_SUFFIX
    from spine_rt.dicom_out.dicom_outputs import SourceImages, require_highdicom

    if args.series is not None:
        raise InputError("--series chooses among the series of a DICOM study; an X-ray is one file")
    output, sr, report_path, qc = _outputs(args, source, XRAY_SUFFIX)
    if args.output_type == "dicom-seg":
        require_highdicom()  # before any work
    source_images = SourceImages.of_file(source) if args.output_type == "dicom-seg" else None
    with _load(args, package) as pipe:
        _announce(model)
        result = pipe(source)
    _print_input_warnings(result)

    def draw_qc(path: Path) -> None:
        from spine_rt.io import read_xray_image
        from spine_rt.measure.qc_picture import xray_qc_picture

        xray = read_xray_image(source)
        xray_qc_picture(xray.pixels, result.labels, result.measurement, path, names=package.manifest.labels,
                        pixel_spacing_mm=xray.pixel_spacing_mm, phantom_only=model["bundled_demo"])

    return _publish_case(args, package, source, model, result, "xray", source_images, draw_qc, {},
                         (output, sr, report_path, qc))


# ---------------------------------------------------------------- both
def _publish_case(args: argparse.Namespace, package: Any, source: Path, model: dict[str, Any], result: Any,
                  task: str, source_images: Any, draw_qc: Any, extra: dict[str, Any],
                  paths: tuple[Path, Path | None, Path | None, Path | None]) -> int:
    """Labels (NIfTI/PNG, or DICOM SEG + SR), QC picture and report, published together or none; prints them."""
    from spine_rt.atomic_write import publishing
    from spine_rt.cli.infer import _describe
    from spine_rt.dicom_out.dicom_outputs import AlgorithmFacts, write_dicom_outputs

    output, sr, report_path, qc = paths
    written = [("labels", output)]
    with publishing(overwrite=args.overwrite):
        if source_images is not None:
            extra["dicom"] = write_dicom_outputs(result.labels, result.report, source_images,
                                                 package.manifest.labels, AlgorithmFacts.of_package(package),
                                                 output, sr_path=sr)
            if sr is not None:
                written.append(("SR", sr))
        else:
            result.save(output)
        if qc is not None:
            draw_qc(qc)
            written.append(("QC picture", qc))
        _write_report(report_path, {"case": _stem(source), "output": str(output), "model": model,
                                    **result.report, **extra})
    if report_path is not None:
        written.append(("report", report_path))
    _print_done(written, _describe(result, task))
    return EXIT_OK
