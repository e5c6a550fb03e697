"""``spine-rt build-engine PKG``: compile a model package's graphs into TensorRT engines on this GPU.

One engine per stage (and fold) from the package's FP16 graphs, built as
strongly typed networks with one optimization profile (batch min/opt/max,
spatial sizes fixed to the patch), stored in ``PKG/engines/<key>/``. The
timing cache is loaded when its file exists and saved back after the build.

``--dry-run`` prints the build plan as JSON on any machine (no TensorRT or
GPU needed): graphs and their sha256, profiles, key parts (with what this
machine cannot tell marked as such) and what would be built.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spine_rt.engines.options import DEFAULT_MAX_BATCH, BuildOptions
from spine_rt.model_package import PRECISIONS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-engine",
        help="build FP16 TensorRT engines for a model package on this GPU",
        description="Build one TensorRT engine per stage of a model package from its FP16 graphs (strongly "
        "typed), keyed by graph sha256, TensorRT version, GPU compute capability, profile and precision, "
        "and store them in PKG/engines/<key>/. Engines already built with the same key are kept.",
    )
    parser.add_argument("package", metavar="PKG", help="model package folder (written by spine-rt export)")
    parser.add_argument("--stages", nargs="+", metavar="STAGE", help="stages to build (default: all)")
    parser.add_argument("--folds", nargs="+", type=int, metavar="FOLD", help="folds to build (default: all)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="which graphs to compile (default: fp16; fp32 only when asked)",
    )
    parser.add_argument("--min-batch", type=int, metavar="N", help="smallest batch the engine accepts (default: 1)")
    parser.add_argument("--opt-batch", type=int, metavar="N", help="batch TensorRT tunes for (default: --max-batch)")
    parser.add_argument(
        "--max-batch", type=int, metavar="N", help=f"largest batch the engine accepts (default: {DEFAULT_MAX_BATCH})"
    )
    parser.add_argument("--workspace", type=int, metavar="MB", help="TensorRT workspace limit in MiB (default: TensorRT's)")
    parser.add_argument("--timing-cache", type=Path, metavar="FILE",
                        help="timing cache to load and update (default: PKG/engines/timing-caches/<TRT>-sm<CC>.cache)")
    parser.add_argument("--opt-level", type=int, metavar="0-5", help="builder optimization level (default: 3)")
    parser.add_argument("--version-compatible", action="store_true",
                        help="build version-compatible engines (run on later TensorRT of the same major version)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild engines that are already stored")
    parser.add_argument("--dry-run", action="store_true", help="print the build plan as JSON and build nothing")
    parser.add_argument("--device", metavar="cuda:N", help="GPU to build for (default: cuda:0)")
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    """The :class:`BuildOptions` of parsed arguments (``None`` passes through to the library's defaults)."""
    return BuildOptions(
        stages=tuple(args.stages) if args.stages else None,
        folds=tuple(args.folds) if args.folds else None,
        precision=args.precision,
        min_batch=args.min_batch,
        opt_batch=args.opt_batch,
        max_batch=args.max_batch,
        workspace_mb=args.workspace,
        opt_level=args.opt_level,
        version_compatible=args.version_compatible,
        timing_cache=args.timing_cache,
        rebuild=args.rebuild,
        device=args.device,
    )


def run(args: argparse.Namespace) -> int:
    from spine_rt.engines.build import build_engines, plan_package_build

    options = options_from_args(args)
    if args.dry_run:
        plan = plan_package_build(args.package, options)
        print(json.dumps(plan.to_dict(), indent=2))
        return 0
    results = build_engines(args.package, options, progress=print)
    for result in results:
        print(
            f"{result.stage} fold {result.fold}: {result.action}  {result.folder}  "
            f"({result.plan_bytes / 2**20:.1f} MiB)"
        )
    return 0
