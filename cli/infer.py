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
import sys
from pathlib import Path
from typing import Any

from spine_rt.cli import infer_dicom
from spine_rt.errors import EXIT_INPUT, EXIT_OK, InputError
from spine_rt.runtime.backends import PIPELINE_BACKENDS, PRECISIONS


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
                        "(default: off, see docs/measurements.md; disagreements are reported and flagged either way)")
    parser.add_argument("--maps-dtype", default=None, choices=("auto", "float16", "float32"),
                        help="spine MR fast schedule: the dtype stage one's maps are held in between the stages: "
                        "float16 (half the memory, ~4e-6 of the labels change) or float32 (exact); default auto: "
                        "float16 when the networks run in fp16/bf16, else float32 (benchmarks/RESULTS.md)")
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


def _open_package(model: str | None, source: Path | None = None):
    """The package of ``--model``; without it the bundled X-ray package for an X-ray input, else the MR one."""
    from spine_rt.model_package import ModelPackage
    from spine_rt.pipelines.cohort_outputs import is_xray_input
    from spine_rt.pipelines.default_model import resolve_package

    xray = model is None and source is not None and is_xray_input(source)
    return ModelPackage.open(resolve_package(model, xray=xray), verify=True)


# ---------------------------------------------------------------- running
def _load(args: argparse.Namespace, package):
    from spine_rt.pipelines import load_pipeline

    if package.manifest.task == "xray":
        given = [flag for flag, value in (("--schedule", args.schedule), ("--no-roi", args.no_roi),
                                          ("--batch", args.batch), ("--pipelining", args.pipelining),
                                          ("--relabel-levels", args.relabel_levels is not None),
                                          ("--maps-dtype", args.maps_dtype)) if value]
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
                         maps_dtype=args.maps_dtype, precision=args.precision, **triton)


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
    from spine_rt.pipelines.cohort_outputs import check_single_input, publish_case, single_case

    check_single_input(source, task, str(package.root))
    case = single_case(source, task, args.output, args.report, args.qc, args.overwrite)
    with _load(args, package) as pipe:
        _announce(model)
        result = pipe(source)
    _print_input_warnings(result)
    publish_case(result, case, task, package.manifest.labels, model, args.overwrite)
    print(f"wrote {case.output}")
    print("\n".join(_describe(result, task)))
    for path, what in ((case.report, "report"), (case.qc, "QC picture")):
        if path is not None:
            print(f"  {what}: {path}")
    return EXIT_OK


def _run_cohort(args: argparse.Namespace, package, source: Path, task: str, model: dict[str, Any]) -> int:
    from tqdm import tqdm

    from spine_rt.pipelines.cohort import run_cohort
    from spine_rt.pipelines.cohort_outputs import cohort_cases

    out_dir, cases = cohort_cases(source, task, args.output, args.report, args.qc)
    done = run_cohort(lambda: _load(args, package), out_dir, cases, task, labels=package.manifest.labels,
                      model=model, overwrite=args.overwrite, on_loaded=lambda: _announce(model),
                      say=lambda line: tqdm.write(f"spine-rt infer: {line}", file=sys.stderr),
                      progress="spine-rt infer")
    print(f"{done.ran - len(done.failed)} case(s) segmented, {done.skipped} skipped as done"
          f"{' (--overwrite redoes them)' if done.skipped else ''}, {len(done.failed)} failed; outputs in {out_dir}; "
          f"summary {done.summary}")
    if done.failed:
        print(f"spine-rt infer: {len(done.failed)} of {len(cases)} case(s) failed: {', '.join(done.failed)} "
              f"(details in {done.summary})", file=sys.stderr)
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
    from spine_rt.pipelines.cohort_outputs import is_mr_cohort

    if source.is_dir() and (task == "xray" or is_mr_cohort(source)):
        return _run_cohort(args, package, source, task, model)
    return _run_single(args, package, source, task, model)
