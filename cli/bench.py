"""``spine-rt bench``: spine-rt's fast schedule vs the authors' schedule and MONAI, same weights, same scan.

::

    spine-rt bench                                   # random-init tiny package, MRSpineSeg-geometry phantom
    spine-rt bench --model PKG --backend onnxruntime torch --shape 12,512,1024 --repeat 5 --json bench.json
    spine-rt bench --baselines none --device cuda:0  # spine-rt's backends only

Prints a table (latency per stage and end to end, patches/s, voxels/s,
overhead outside backend calls, peak memory, time ratio and label agreement
vs spine-rt fast) and optionally writes every figure as JSON. Heavy imports
happen inside :func:`run` only.
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
        help="time spine-rt against the authors' schedule and MONAI on the same weights and scan",
        description="Measure spine-rt's fast schedule on each backend and, in the same run, the baselines on the "
        "same weights and the same scan: the authors' schedule (SEEDS.md, torch FP32) and MONAI "
        "sliding_window_inference driving the same torch stage-two network. Reports latency per stage and end "
        "to end (median, p95; warm-up runs excluded), stage-two patches, patches/s, voxels/s, the share of time "
        "outside backend calls, peak host (and GPU) memory, time ratios and Dice agreement vs spine-rt fast.",
    )
    parser.add_argument("--model", default=None, metavar="PKG",
                        help="spine MR model package (default: export a seeded random-init tiny SSHSNet package "
                        "to a temporary folder)")
    parser.add_argument("--backend", nargs="+", default=None, metavar="B", dest="backends",
                        help="spine-rt backends for the fast schedule: onnxruntime, torch, tensorrt "
                        "(default: every backend available on the device; the first is the reference row)")
    parser.add_argument("--device", default=None, metavar="D", help="cpu, cuda or cuda:N (default: auto's device)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--shape", default=None, metavar="SLICES,SI,AP",
                        help="synthetic input of this size at 4.4 x 0.3448 x 0.3448 mm: sagittal slices, "
                        "superior-inferior and anterior-posterior voxels, e.g. 12,512,1024")
    source.add_argument("--phantom", action="store_true",
                        help="the MRSpineSeg-geometry phantom, 12 x ~1000 x ~550 voxels (the default)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--repeat", type=int, default=None, metavar="N", help="timed runs per configuration (default 3)")
    parser.add_argument("--warmup", type=int, default=None, metavar="N",
                        help="untimed runs before them (default 1)")
    parser.add_argument("--baselines", default=None, metavar="LIST",
                        help="comma-separated baselines: reference, monai, or none (default: reference,monai)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch and onnxruntime intra-op threads (default: theirs)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="stage-two windows per call of spine-rt fast (default 4)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every figure as JSON")
    parser.set_defaults(run=run)


def parse_baselines(text: str | None) -> tuple[str, ...]:
    """``"reference,monai"`` -> ``("reference", "monai")``; ``"none"`` -> ``()``; ``None`` -> both.

    Raises:
        InputError: an unknown name (lists the valid ones).
    """
    from spine_rt.bench.pipeline_benchmark import BASELINES

    if text is None:
        return BASELINES
    names = tuple(dict.fromkeys(item.strip().lower() for item in text.split(",") if item.strip()))
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise InputError(f"--baselines: unknown baseline {unknown[0]!r}; valid: {', '.join(BASELINES)}, or none")
    return names


def run(args: argparse.Namespace) -> int:
    from spine_rt.bench.bench_input import parse_shape
    from spine_rt.bench.pipeline_benchmark import DEFAULT_REPEAT, DEFAULT_WARMUP, BenchOptions, run_bench

    from spine_rt.atomic_write import write_bytes_atomic
    from spine_rt.output_paths import check_output_file

    if args.json:  # checked before any work; an existing report is replaced
        check_output_file(args.json, "--json report", (".json",), overwrite=True,
                          inputs=[args.model] if args.model else [])
    shape = None if args.shape is None else parse_shape(args.shape)
    backends = None
    if args.backends:
        backends = [name.strip() for item in args.backends for name in item.split(",") if name.strip()]
    if args.model is not None and not Path(args.model).is_dir():
        raise InputError(f"--model {args.model}: no such package folder")
    options = BenchOptions(
        model=args.model,
        backends=backends,
        device=args.device,
        shape=shape,
        seed=args.seed,
        repeat=DEFAULT_REPEAT if args.repeat is None else args.repeat,
        warmup=DEFAULT_WARMUP if args.warmup is None else args.warmup,
        baselines=parse_baselines(args.baselines),
        threads=args.threads,
        batch_size=args.batch_size,
    )
    report = run_bench(options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(report.format_table())
    if args.json:
        write_bytes_atomic(args.json, (json.dumps(report.as_dict(), indent=2) + "\n").encode())
    return 0
