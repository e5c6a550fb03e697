"""``spine-rt infer``: segment a spine MR, a lateral X-ray, or a folder of them with a model package.

::

    spine-rt infer scan.nii.gz                          # -> ./scan_seg.nii.gz
    spine-rt infer dicom_series/ -o seg.nii.gz --report seg.json --qc seg.png
    spine-rt infer lateral.png --model xray_pkg/        # -> ./lateral_seg.png; angles printed
    spine-rt infer scans/ -o results/ --qc results/qc   # a cohort: one label map + report per case

INPUT and the model's task (manifest) decide what happens:

* a spine MR model (``spine_mr``): INPUT is a NIfTI file, a DICOM series
  folder (files only), or a folder of NIfTI files / DICOM series
  sub-folders (a cohort, read ahead with
  :func:`spine_rt.pipelines.segment_cohort`);
* an X-ray model (``xray``): INPUT is a PNG/JPEG/DICOM picture, or a folder
  of them (a cohort).

Outputs (all written atomically; the input is never overwritten):

* one case: OUTPUT (``-o``), by default ``<input stem>_seg.nii.gz`` (MR) or
  ``<input stem>_seg.png`` (X-ray) in the *current folder* (not beside the
  input, whose folder may be read-only or an archive); ``-o`` naming an
  existing folder puts that default name there. ``--report FILE.json`` and
  ``--qc FILE.png`` add the report and a QC picture. An existing output is
  refused unless ``--overwrite``.
* a cohort: OUTPUT is a folder (default ``./<input folder name>_seg``) that
  gets ``<name>_seg.nii.gz`` / ``<name>_seg.png`` and ``<name>_report.json``
  per case and ``summary.csv``; ``--qc`` names a folder for
  ``<name>_qc.png``. A case whose label map and report both exist is
  skipped unless ``--overwrite``. A case that cannot be read is reported
  (stderr and the summary) and the others still run. A tqdm progress bar
  runs on stderr when stderr is a terminal.

Exit codes: 0 every case done (or skipped as done); 2 bad input or usage,
including a cohort in which at least one case failed (exit 2 comes after
all other cases ran; the summary names the failed ones); 3 the machine
lacks the requested backend or device (``--backend tensorrt`` without
TensorRT, ``--device cuda:0`` without a GPU); 1 a bug.

Without ``--model`` a bundled demo package is used: the X-ray one for an
X-ray picture (PNG/JPEG, an X-ray DICOM file) or a folder of pictures
(:func:`spine_rt.pipelines.default_model.default_xray_package_path`), the
spine MR one otherwise (:func:`~spine_rt.pipelines.default_model.default_package_path`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.cli import infer_dicom
from spine_rt.errors import EXIT_INPUT, EXIT_OK, InputError
from spine_rt.runtime.backends import PIPELINE_BACKENDS, PRECISIONS

MR_SUFFIX = "_seg.nii.gz"
XRAY_SUFFIX = "_seg.png"
REPORT_SUFFIX = "_report.json"
QC_SUFFIX = "_qc.png"
SUMMARY_NAME = "summary.csv"
#: measured X-ray values copied into the summary
SUMMARY_VALUES = ("PI", "PT", "SS", "LL", "PI-LL", "LDI")


@dataclass(frozen=True)
class Case:
    """One scan or picture and where its results go."""

    name: str
    input: Path
    output: Path
    report: Path | None
    qc: Path | None

    @property
    def done(self) -> bool:
        return self.output.is_file() and self.report is not None and self.report.is_file()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "infer",
        help="segment a spine MR, an X-ray, or a folder of them",
        description="Segment INPUT with a model package: a NIfTI file or DICOM series folder (spine MR model), "
        "a PNG/JPEG/DICOM X-ray (X-ray model: labels plus lumbar/pelvic angles), or a folder of such (a cohort: "
        "OUTPUT is a folder with one label map and report per case and summary.csv; finished cases are skipped "
        "unless --overwrite; an unreadable case is reported, the others run, and the exit code is then 2).",
    )
    parser.add_argument("input", metavar="INPUT", help="NIfTI file, DICOM series folder, X-ray picture, or a folder")
    parser.add_argument("-o", "--output", metavar="OUTPUT", default=None,
                        help="label map (one case; default ./<stem>_seg.nii.gz or ./<stem>_seg.png) or folder "
                        "(a folder INPUT; default ./<folder>_seg)")
    parser.add_argument("--model", metavar="PKG", default=None,
                        help="model package folder (default: the bundled demo model, the X-ray one for X-ray pictures)")
    parser.add_argument("--backend", choices=PIPELINE_BACKENDS, default=None,
                        help="auto (TensorRT > onnxruntime CUDA > torch CUDA > OpenVINO CPU > onnxruntime CPU), "
                        "tensorrt, onnxruntime, torch, openvino or triton (with --server) (default: auto)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="fp32 (exact; the default on the CPU), fp16 (CUDA backends) or bf16 (openvino on a "
                        "CPU with AVX512_BF16 or AMX; refused when it changes more than 0.5 %% of labels on a "
                        "real-looking input)")
    parser.add_argument("--device", default=None, metavar="DEVICE", help="cpu or cuda:N (default: best available)")
    add_triton_arguments(parser)
    parser.add_argument("--schedule", default=None, metavar="NAME",
                        help="spine MR: fast (default) or reference (the authors' schedule)")
    parser.add_argument("--no-roi", action="store_true", help="spine MR: run stage two everywhere, not only near "
                        "stage one's foreground")
    parser.add_argument("--batch", type=int, default=None, metavar="N", help="spine MR: stage-two windows per call")
    parser.add_argument("--pipelining", default=None, metavar="MODE",
                        help="spine MR fast schedule: auto (default: on a CUDA device with torch/TensorRT, stage one "
                        "and stage two on two CUDA streams; else the host schedule), two-stream, sequential or off")
    parser.add_argument("--relabel-levels", action=argparse.BooleanOptionalAction, default=None,
                        help="spine MR: rewrite level names that disagree with the count of levels from the sacrum "
                        "(default: on; disagreements are reported either way)")
    parser.add_argument("--tta", action="store_true",
                        help="mirroring test-time augmentation (MR: anterior-posterior; X-ray: left-right)")
    parser.add_argument("--report", metavar="FILE.json", default=None,
                        help="one case: write the report (JSON) here (a cohort writes one per case into OUTPUT)")
    parser.add_argument("--qc", metavar="FILE.png", default=None,
                        help="one case: write a QC picture here; a cohort: a folder for <name>_qc.png")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs; redo finished cases")
    infer_dicom.add_options(parser)  # --output-type, --sr, --series, --force
    parser.set_defaults(run=run)


def add_triton_arguments(parser: argparse.ArgumentParser) -> None:
    """``--server``, ``--model-name-prefix``, ``--triton-protocol``, ``--triton-timeout`` (backend triton)."""
    group = parser.add_argument_group("backend triton (network calls on Triton Inference Server)")
    group.add_argument("--server", default=None, metavar="HOST:PORT[,HOST:PORT...]",
                       help="Triton servers (gRPC port; HTTP port with --triton-protocol http); requests go to the "
                       "least busy one and move to another when one fails")
    group.add_argument("--model-name-prefix", default=None, metavar="TEXT",
                       help="the prefix the repository was written with (spine-rt triton-repo)")
    group.add_argument("--triton-protocol", default=None, choices=("grpc", "http"), help="default grpc")
    group.add_argument("--triton-timeout", type=float, default=None, metavar="S",
                       help="seconds one network call may take before its server counts as failed (default 120)")


def triton_servers(args: argparse.Namespace):
    """The server pool for ``--backend triton`` (``None`` for other backends); InputError on misuse."""
    given = [flag for flag, value in (("--server", args.server), ("--model-name-prefix", args.model_name_prefix),
                                      ("--triton-protocol", args.triton_protocol),
                                      ("--triton-timeout", args.triton_timeout)) if value is not None]
    backends = getattr(args, "backends", None) or [getattr(args, "backend", None)]
    if "triton" not in backends:
        if given:
            raise InputError(f"{', '.join(given)}: options of --backend triton")
        return None
    if args.server is None:
        raise InputError("--backend triton needs --server HOST:PORT[,HOST:PORT...]")
    from spine_rt.runtime.triton_servers import TritonServerPool

    return TritonServerPool(args.server, args.triton_protocol, args.triton_timeout)


# ---------------------------------------------------------------- planning
def _open_package(model: str | None, source: Path | None = None):
    """The package of ``--model``; without it the bundled X-ray package for an X-ray input, else the MR one."""
    from spine_rt.model_package import ModelPackage
    from spine_rt.pipelines.default_model import resolve_package

    xray = model is None and source is not None and _is_xray_input(source)
    return ModelPackage.open(resolve_package(model, xray=xray), verify=True)


def _is_xray_input(source: Path) -> bool:
    """An X-ray picture (PNG/JPEG), an X-ray DICOM file (CR, DX), or a folder of PNG/JPEG pictures only."""
    from spine_rt.io.xray_image import is_dicom_file, is_xray_image_path

    if source.is_file():
        if is_dicom_file(source):
            return _is_xray_dicom(source)
        return is_xray_image_path(source)
    if source.is_dir() and not _is_mr_cohort(source):
        return any(p.is_file() and is_xray_image_path(p) and not is_dicom_file(p) for p in source.iterdir())
    return False


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem if path.is_file() else name


def _same(first: Path, second: Path) -> bool:
    return first.resolve() == second.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents


def _is_mr_cohort(folder: Path) -> bool:
    """A folder holding NIfTI files or sub-folders is a cohort; one holding files only is a DICOM series."""
    from spine_rt.io.nifti import is_nifti_path

    return any((p.is_file() and is_nifti_path(p)) or p.is_dir() for p in folder.iterdir())


def _check_single_input(source: Path, task: str, model: str) -> None:
    from spine_rt.io.nifti import is_nifti_path
    from spine_rt.io.xray_image import is_dicom_file, is_xray_image_path

    if task == "xray":
        if source.is_dir() or not (is_xray_image_path(source) or is_dicom_file(source)):
            raise InputError(f"{source}: not an X-ray picture (.png, .jpg, .jpeg, .dcm); "
                             f"the model {model} is an X-ray package")
    elif source.is_file() and not is_nifti_path(source):
        what = "an X-ray picture" if is_xray_image_path(source) else "not a NIfTI file (.nii, .nii.gz)"
        raise InputError(f"{source}: {what}; the model {model} is a spine MR package (NIfTI or DICOM series in)")


def _is_xray_dicom(path: Path) -> bool:
    """A single DICOM file whose modality is a projection X-ray (CR, DX)."""
    try:
        import pydicom

        return str(pydicom.dcmread(path, stop_before_pixels=True).get("Modality", "")) in ("CR", "DX", "RG")
    except Exception:  # unreadable: the reader says why later
        return False


def _single_case(args: argparse.Namespace, source: Path, task: str) -> Case:
    """The case's output paths, each checked (ending, folder, existing file, the input) before any work."""
    from spine_rt.output_paths import check_distinct, check_output_file

    default_name = _stem(source) + (XRAY_SUFFIX if task == "xray" else MR_SUFFIX)
    output = Path(args.output) if args.output is not None else Path.cwd() / default_name
    if output.is_dir():
        output = output / default_name
    report = Path(args.report) if args.report is not None else None
    qc = Path(args.qc) if args.qc is not None else None
    label_suffixes = (".png",) if task == "xray" else (".nii.gz", ".nii")
    for path, what, suffixes in ((output, "output", label_suffixes), (report, "--report", (".json",)),
                                 (qc, "--qc", (".png",))):
        if path is not None:
            check_output_file(path, what, suffixes, args.overwrite, inputs=[source])
    check_distinct((("output", output), ("--report", report), ("--qc", qc)))
    return Case(_stem(source), source, output, report, qc)


def _cohort_inputs(source: Path, task: str, skip: list[Path]) -> list[Path]:
    from spine_rt.pipelines import scans_in_folder
    from spine_rt.io.xray_image import is_xray_image_path

    if task == "xray":
        found = [p for p in sorted(source.iterdir()) if p.is_file() and is_xray_image_path(p)]
        if not found:
            raise InputError(f"{source}: no X-ray picture (.png, .jpg, .jpeg, .dcm) inside")
        return found
    return [p for p in scans_in_folder(source) if not any(_same(p, s) for s in skip if s.exists())]


def _cohort_cases(args: argparse.Namespace, source: Path, task: str) -> tuple[Path, list[Case]]:
    from spine_rt.output_paths import check_distinct, check_output_folder

    if args.report is not None:
        raise InputError("--report names one file; for a folder INPUT every case's report is written into "
                         "OUTPUT as <name>_report.json")
    out_dir = Path(args.output) if args.output is not None else Path.cwd() / f"{source.resolve().name}_seg"
    if _same(out_dir, source):
        raise InputError(f"{out_dir}: the output folder is the input folder; choose another -o")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: a folder INPUT needs an output folder, and this is a file")
    check_output_folder(out_dir, "output folder")
    qc_dir = Path(args.qc) if args.qc is not None else None
    if qc_dir is not None and qc_dir.exists() and not qc_dir.is_dir():
        raise InputError(f"{qc_dir}: for a folder INPUT, --qc names a folder for the QC pictures")
    if qc_dir is not None:
        check_output_folder(qc_dir, "--qc folder")
    check_distinct((("output folder", out_dir), ("--qc folder", qc_dir)))
    inputs = _cohort_inputs(source, task, [out_dir] + ([qc_dir] if qc_dir is not None else []))
    suffix = XRAY_SUFFIX if task == "xray" else MR_SUFFIX
    stems = [_stem(p) for p in inputs]
    cases = []
    for path, stem in zip(inputs, stems):
        name = stem if stems.count(stem) == 1 else f"{stem}_{path.suffix.lstrip('.').lower() or 'dir'}"
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


# ---------------------------------------------------------------- running
def _load(args: argparse.Namespace, package):
    from spine_rt.pipelines import load_pipeline

    if package.manifest.task == "xray":
        given = [flag for flag, value in (("--schedule", args.schedule), ("--no-roi", args.no_roi),
                                          ("--batch", args.batch), ("--pipelining", args.pipelining),
                                          ("--relabel-levels", args.relabel_levels is not None)) if value]
        if given:
            raise InputError(f"{', '.join(given)}: spine MR options; {package.root} is an X-ray model")
        if args.backend == "triton":
            raise InputError("--backend triton serves spine MR packages; X-ray packages run in process")
        return load_pipeline(package, backend=args.backend, device=args.device, tta=args.tta or None,
                             precision=args.precision)
    servers = triton_servers(args)
    triton = {} if servers is None else {"servers": servers, "model_name_prefix": args.model_name_prefix}
    # None for every option not given: load_pipeline fills in the defaults (PipelineOptions)
    return load_pipeline(package, backend=args.backend, device=args.device, schedule=args.schedule,
                         roi=False if args.no_roi else None, batch_size=args.batch, tta=args.tta or None,
                         pipelining=args.pipelining, relabel_levels=args.relabel_levels,
                         precision=args.precision, **triton)


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


def _finish(result: Any, case: Case, task: str, names: dict[int, str], model: dict[str, Any],
            overwrite: bool) -> None:
    """Labels, QC picture and report, published together or not at all (:func:`spine_rt.atomic_write.publishing`).

    Without ``overwrite`` an output that another run created meanwhile fails
    the case (exit 2) instead of being replaced.
    """
    from spine_rt.atomic_write import publishing

    with publishing(overwrite=overwrite):
        result.save(case.output)
        _write_qc(result, case, task, names, model)
        _write_report(result, case, model)


def _summary_row(case: Case, status: str, report: dict | None, error: str = "", task: str = "") -> dict[str, Any]:
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
        from spine_rt.measure.measurement_summary import summary_row

        row.update(summary_row(report))
    return row


def _previous_report(case: Case) -> dict | None:
    try:
        return json.loads(case.report.read_text()) if case.report is not None else None
    except (OSError, ValueError):
        return None


def _write_summary(out_dir: Path, rows: list[dict[str, Any]], task: str) -> Path:
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


def _describe(result: Any, task: str) -> list[str]:
    """Lines for stdout: backend, time, structures; for X-rays the key angles (measured, MBNet's)."""
    from spine_rt.measure.qc_picture import XRAY_KEY_VALUES, value_line

    report = result.report
    lines = [f"  {report.get('backend')} on {report.get('device')}, {report['seconds']['total']:.2f} s; "
             f"structures: {', '.join(s['name'] for s in report.get('structures', [])) or 'none'}"]
    if task == "xray" and report.get("measurements"):
        values = result.measurement.values
        lines.append("  measured: " + ", ".join(value_line(name, values.get(name)) for name in XRAY_KEY_VALUES))
    if task != "xray":
        from spine_rt.measure.measurement_summary import summary_lines

        lines.extend(summary_lines(report))
    regressed = report.get("regressed_values")
    if regressed:
        entries = regressed["values"]
        if regressed["scaling"] is None:
            shown = ", ".join(f"{name} {entries[name]['raw']:.3f}" for name in XRAY_KEY_VALUES)
            lines.append(f"  MBNet (raw sigmoid outputs, no value scaling in the package): {shown}")
        else:
            shown = ", ".join(value_line(name, entries[name]["value"]) for name in XRAY_KEY_VALUES)
            lines.append(f"  MBNet: {shown}")
    return lines


def _announce(model: dict[str, Any]) -> None:
    """Say which model runs; warn (one line, stderr) when it is the bundled phantom-only model."""
    from spine_rt.model_package.identity import PHANTOM_ONLY_WARNING, identity_line

    print(identity_line(model))
    if model["bundled_demo"]:
        print(f"spine-rt infer: warning: {PHANTOM_ONLY_WARNING}", file=sys.stderr)


def _print_input_warnings(result: Any) -> None:
    """The pipeline's warnings about an unusual input (one line each, stderr)."""
    for warning in (result.report.get("input") or {}).get("warnings", []):
        print(f"spine-rt infer: warning: {warning}", file=sys.stderr)


def _run_single(args: argparse.Namespace, package, source: Path, task: str, model: dict[str, Any]) -> int:
    _check_single_input(source, task, str(package.root))
    case = _single_case(args, source, task)
    with _load(args, package) as pipe:
        _announce(model)
        result = pipe(source)
    _print_input_warnings(result)
    _finish(result, case, task, package.manifest.labels, model, args.overwrite)
    print(f"wrote {case.output}")
    print("\n".join(_describe(result, task)))
    for path, what in ((case.report, "report"), (case.qc, "QC picture")):
        if path is not None:
            print(f"  {what}: {path}")
    return EXIT_OK


def _run_cohort(args: argparse.Namespace, package, source: Path, task: str, model: dict[str, Any]) -> int:
    from tqdm import tqdm

    out_dir, cases = _cohort_cases(args, source, task)
    todo = [case for case in cases if args.overwrite or not case.done]
    rows: dict[str, dict[str, Any]] = {case.name: _summary_row(case, "skipped (already done)", _previous_report(case),
                                                               task=task)
                                       for case in cases if case not in todo}
    failed: list[str] = []
    names = package.manifest.labels
    progress = tqdm(total=len(todo), unit="case", desc="spine-rt infer", disable=None, file=sys.stderr)

    def record(case: Case, result: Any, error: Exception | None) -> None:
        if error is None:
            try:
                _finish(result, case, task, names, model, args.overwrite)
            except (InputError, OSError) as problem:
                error = problem
        if error is None:
            rows[case.name] = _summary_row(case, "done", result.report, task=task)
            for warning in (result.report.get("input") or {}).get("warnings", []):
                tqdm.write(f"spine-rt infer: {case.name}: warning: {warning}", file=sys.stderr)
        else:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            failed.append(case.name)
            rows[case.name] = _summary_row(case, "failed", None, message, task=task)
            tqdm.write(f"spine-rt infer: {case.name}: {message}", file=sys.stderr)
        progress.update(1)

    try:
        if todo:
            with _load(args, package) as pipe:
                _announce(model)
                if task == "xray":
                    for case in todo:
                        try:
                            result = pipe(case.input)
                        except InputError as error:
                            record(case, None, error)
                            continue
                        record(case, result, None)
                else:
                    from spine_rt.pipelines import segment_cohort

                    for case, item in zip(todo, segment_cohort(pipe, [case.input for case in todo])):
                        record(case, item.result, item.error)
    finally:
        progress.close()
        ordered = [rows.get(case.name) or _summary_row(case, "not run", None, task=task) for case in cases]
        summary = _write_summary(out_dir, ordered, task)
    skipped = len(cases) - len(todo)
    print(f"{len(todo) - len(failed)} case(s) segmented, {skipped} skipped as done"
          f"{' (--overwrite redoes them)' if skipped else ''}, {len(failed)} failed; outputs in {out_dir}; "
          f"summary {summary}")
    if failed:
        print(f"spine-rt infer: {len(failed)} of {len(cases)} case(s) failed: {', '.join(failed)} "
              f"(details in {summary})", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    package = _open_package(args.model, source)
    task = package.manifest.task
    from spine_rt.model_package.identity import model_identity

    model = model_identity(package)
    dicom_exit = infer_dicom.run_dicom_case(args, package, source, task, model)  # DICOM series / SEG / SR; None: not DICOM
    if dicom_exit is not None:
        return dicom_exit
    if source.is_dir() and (task == "xray" or _is_mr_cohort(source)):
        return _run_cohort(args, package, source, task, model)
    return _run_single(args, package, source, task, model)
