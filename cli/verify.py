"""``spine-rt verify``: parity of every available backend on a model package.

::

    spine-rt verify PKG                         # torch FP32 (package weights) is the reference
    spine-rt verify PKG --input scan.nii.gz --backends onnxruntime,tensorrt --json report.json
    spine-rt verify PKG --checkpoint-free       # no torch: onnxruntime FP32 is the reference

Exit code 0 when every backend is within the export's tolerances, 1 when one
is not. torch is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check every available backend on a package against the torch FP32 reference",
        description="Run every stage and fold of a model package on every available backend "
        "(torch from the package weights, onnxruntime CPU/CUDA, TensorRT when installed) at every precision, "
        "on a deterministic real-looking input or a scan's central region, and print max/mean abs error, "
        "relative error and argmax agreement against torch FP32. Exit 1 beyond the export's tolerances.",
    )
    parser.add_argument("package", metavar="PKG", help="model package folder")
    parser.add_argument("--input", default=None, metavar="SCAN",
                        help="MR scan (NIfTI or DICOM folder) or X-ray picture whose central region is the input")
    parser.add_argument("--backends", nargs="+", default=None, metavar="NAME",
                        help="backends to check: tensorrt, onnxruntime, torch (default: all available)")
    parser.add_argument("--checkpoint-free", action="store_true",
                        help="compare with onnxruntime CPU FP32 instead of torch (no torch or weights needed)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic input (default 0)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spine_rt.atomic_write import write_bytes_atomic
    from spine_rt.export.package_verification import verify_package
    from spine_rt.output_paths import check_output_file

    if args.json:  # checked before any work; an existing report is replaced
        check_output_file(args.json, "--json report", (".json",), overwrite=True,
                          inputs=[args.package] + ([args.input] if args.input else []))
    report = verify_package(args.package, input_scan=args.input, backends=args.backends,
                            checkpoint_free=args.checkpoint_free, seed=args.seed)
    print(report.format_table())
    if args.json:
        write_bytes_atomic(args.json, (json.dumps(report.as_dict(), indent=2) + "\n").encode())
    return 0 if report.passed else 1
