"""``spine-rt verify``: parity of every available backend on a model package.

::

    spine-rt verify PKG                         # torch FP32 (package weights) is the reference
    spine-rt verify PKG --input scan.nii.gz --backends onnxruntime,tensorrt --json report.json
    spine-rt verify PKG --checkpoint-free       # no torch: onnxruntime FP32 is the reference
    spine-rt verify PKG --input scan.nii.gz --labels scan_label.nii.gz   # + Dice through load_pipeline

Exit code 0 when every backend is within the export's tolerances, 1 when one
is not. With ``--labels`` the scan also runs through the product path
(``load_pipeline``, as ``spine-rt infer``) and its Dice, HD95 and level shifts
against the labels are printed (and stored under ``dice`` in ``--json``);
they do not change the exit code. torch is imported inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import json



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
    parser.add_argument("--backends", "--backend", nargs="+", default=None, metavar="NAME",
                        help="backends to check: tensorrt, onnxruntime, torch, openvino (fp32 and bf16), "
                        "triton (with --server) (default: all available in process)")
    parser.add_argument("--checkpoint-free", action="store_true",
                        help="compare with onnxruntime CPU FP32 instead of torch (no torch or weights needed)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic input (default 0)")
    parser.add_argument("--labels", default=None, metavar="LABELS",
                        help="truth label map of --input (MR): also run the scan through the product path "
                        "(load_pipeline, as spine-rt infer) and print its Dice per structure, HD95 and level shifts")
    parser.add_argument("--labels-map", default=None, metavar="JSON",
                        help="labels.json {id: name} of --labels, matched to the package's labels by name")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    from spine_rt.cli.infer import add_triton_arguments

    add_triton_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spine_rt.atomic_write import write_bytes_atomic
    from spine_rt.cli.infer import triton_servers
    from spine_rt.errors import InputError
    from spine_rt.export.package_verification import verify_package
    from spine_rt.output_paths import check_output_file

    if args.json:  # checked before any work; an existing report is replaced
        check_output_file(args.json, "--json report", (".json",), overwrite=True,
                          inputs=[args.package] + ([args.input] if args.input else []))
    if args.labels and not args.input:
        raise InputError("--labels needs --input SCAN (the scan the labels belong to)")
    backends = None if args.backends is None else [b for item in args.backends for b in item.split(",") if b.strip()]
    args.backends = backends
    servers = triton_servers(args)
    triton = None if servers is None else (servers, args.model_name_prefix or "")
    report = verify_package(args.package, input_scan=args.input, backends=backends,
                            checkpoint_free=args.checkpoint_free, seed=args.seed, triton=triton)
    print(report.format_table())
    record = report.as_dict()
    if args.labels:
        from spine_rt.evaluation import evaluate_scan

        case = evaluate_scan(args.package, args.input, args.labels, labels_map=args.labels_map)
        shifts = ", ".join(f"{s.predicted} on true {s.true}" for s in case.level_shifts) or "none"
        print(f"\nproduct path (load_pipeline) on {args.input}: mean Dice "
              f"{'-' if case.mean_dice is None else f'{case.mean_dice:.4f}'}; level shifts: {shifts}")
        for name, dice in case.dice.items():
            hd95 = case.hd95_mm.get(name)
            print(f"  {name:<12} Dice {dice:.4f}  HD95 {'-' if hd95 is None else f'{hd95:.2f} mm'}")
        record["dice"] = case.as_dict()
    if args.json:
        write_bytes_atomic(args.json, (json.dumps(record, indent=2) + "\n").encode())
    return 0 if report.passed else 1
