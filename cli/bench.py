"""``spine-rt bench``: spine-rt's fast schedule vs the authors' schedule and MONAI, same weights, same scan.

::

    spine-rt bench                                   # a few minutes: random-init tiny package, MRSpineSeg-geometry
                                                     # phantom, spine-rt fast on the engine auto picks
    spine-rt bench --baselines reference,monai       # + the authors' schedule and MONAI (longer)
    spine-rt bench --preset full --threads 1         # paper-size network: fast on openvino fp32/bf16 and
                                                     # onnxruntime, the baselines, per-patch GFLOP/s vs peak
    spine-rt bench --preset full --patch-only        # only one stage-two patch per CPU engine (minutes)
    spine-rt bench --model PKG --backend onnxruntime torch openvino:bf16 --shape 12,512,1024 --repeat 5 --json bench.json

Prints the plan, then one progress line per call (configuration, round,
estimated time left) on stderr; then a table (latency per stage and end to
end, patches/s, voxels/s, overhead outside backend calls, peak memory, time
ratio and label agreement vs spine-rt fast; with ``--preset full`` also
stage-two seconds per patch, GFLOP/s, fraction of the CPU's measured peak
and agreement with the authors' schedule) and optionally writes every figure
as JSON. Heavy imports happen inside :func:`run` only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spine_rt.errors import InputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time spine-rt's engines (and, on request, the authors' schedule and MONAI) on one scan",
        description="Measure spine-rt's fast schedule on each backend and, in the same run, the baselines on the "
        "same weights and the same scan: the authors' schedule (SEEDS.md, torch FP32) and MONAI "
        "sliding_window_inference driving the same torch stage-two network. Without options it takes a few "
        "minutes on 2 cores (tiny network, spine-rt fast on the engine auto picks, no baselines); --backend adds engines, "
        "--baselines and --preset full add the long comparisons. Reports latency per stage and end "
        "to end (median, p95; warm-up runs excluded), stage-two patches, patches/s, voxels/s, the share of time "
        "outside backend calls, peak host (and GPU) memory, time ratios and Dice agreement vs spine-rt fast.",
    )
    parser.add_argument("--model", default=None, metavar="PKG",
                        help="spine MR model package (default: export a seeded random-init SSHSNet package of "
                        "--preset to a temporary folder)")
    parser.add_argument("--preset", default="tiny", metavar="NAME",
                        help="tiny (default: a few minutes) or full (the paper-size network: spine-rt fast on "
                        "openvino fp32, openvino bf16 and onnxruntime, the authors' schedule and MONAI, one round, "
                        "and one stage-two patch per CPU engine with GFLOP/s against the CPU's measured peak; "
                        "hours on 2 cores with the baselines)")
    parser.add_argument("--patch-only", action="store_true",
                        help="only the per-patch comparison of the CPU engines (no whole scan)")
    parser.add_argument("--patch-engines", action="store_true",
                        help="also time one stage-two patch per CPU engine (on by default with --preset full)")
    parser.add_argument("--backend", nargs="+", default=None, metavar="B", dest="backends",
                        help="spine-rt fast configurations, backend[:precision]: openvino, openvino:bf16, "
                        "onnxruntime, torch, tensorrt, triton (with --server) (default: the preset's; the first is "
                        "the reference row)")
    parser.add_argument("--device", default=None, metavar="D", help="cpu, cuda or cuda:N (default: auto's device)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--shape", default=None, metavar="SLICES,SI,AP",
                        help="synthetic input of this size at 4.4 x 0.3448 x 0.3448 mm: sagittal slices, "
                        "superior-inferior and anterior-posterior voxels, e.g. 12,512,1024")
    source.add_argument("--phantom", action="store_true",
                        help="the MRSpineSeg-geometry phantom, 12 x ~1000 x ~550 voxels (the default)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--repeat", type=int, default=None, metavar="N",
                        help="timed runs per configuration (default 3; 1 with --preset full)")
    parser.add_argument("--warmup", type=int, default=None, metavar="N",
                        help="untimed runs before them (default 1; 0 with --preset full)")
    parser.add_argument("--baselines", default=None, metavar="LIST",
                        help="comma-separated baselines: reference, monai, or none (default: none; "
                        "reference,monai with --preset full)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch, onnxruntime and OpenVINO threads (default: theirs; the per-patch comparison "
                        "uses 1)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="stage-two windows per call of spine-rt fast (default 4)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every figure as JSON")
    from spine_rt.cli.infer import add_triton_arguments

    add_triton_arguments(parser)
    parser.set_defaults(run=run)


def parse_baselines(text: str | None) -> tuple[str, ...] | None:
    """``"reference,monai"`` -> ``("reference", "monai")``; ``"none"`` -> ``()``; ``None`` -> ``None`` (the preset's).

    Raises:
        InputError: an unknown name (lists the valid ones).
    """
    from spine_rt.bench.pipeline_benchmark import BASELINES

    if text is None:
        return None
    names = tuple(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise InputError(f"--baselines: unknown baseline {unknown[0]!r}; valid: {', '.join(BASELINES)}, or none")
    return names


def run(args: argparse.Namespace) -> int:
    from spine_rt.bench.pipeline_benchmark import BenchOptions, run_bench
    from spine_rt.bench.plan import check_preset, parse_shape

    from spine_rt.atomic_write import write_bytes_atomic
    from spine_rt.output_paths import check_output_file

    if args.json:  # checked before any work; an existing report is replaced
        check_output_file(args.json, "--json report", (".json",), overwrite=True,
                          inputs=[args.model] if args.model else [])
    shape = None if args.shape is None else parse_shape(args.shape)
    backends = None
    if args.backends:
        backends = [name.strip() for item in args.backends for name in item.split(",") if name.strip()]
    from spine_rt.cli.infer import triton_servers

    args.backends = backends
    servers = triton_servers(args)
    if args.model is not None and not Path(args.model).is_dir():
        raise InputError(f"--model {args.model}: no such package folder")
    options = BenchOptions(
        model=args.model,
        backends=backends,
        device=args.device,
        shape=shape,
        seed=args.seed,
        repeat=args.repeat,
        warmup=args.warmup,
        baselines=parse_baselines(args.baselines),
        threads=args.threads,
        batch_size=args.batch_size,
        triton=None if servers is None else (servers, args.model_name_prefix or ""),
        preset=check_preset(args.preset),
        patch_engines=True if (args.patch_engines or args.patch_only) else None,
        scan=not args.patch_only,
    )
    report = run_bench(options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(report.format_table())
    if args.json:
        write_bytes_atomic(args.json, (json.dumps(report.as_dict(), indent=2) + "\n").encode())
    return 0
