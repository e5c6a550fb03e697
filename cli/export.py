"""``spine-rt export``: PyTorch checkpoints -> one verified model package (ONNX FP32 + FP16, weights, manifest).

::

    spine-rt export sshsnet --checkpoint stage1=S1.pt --checkpoint stage2=S2.pt --out PKG
    spine-rt export mbnet --checkpoint M.pt --out PKG --precision fp32,fp16
    spine-rt export sshsnet --random-init --preset tiny --out PKG   # untrained, for tests/benchmarks

torch is imported inside :func:`run` only, so ``spine-rt --help`` works on
the base install.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from spine_rt.errors import InputError
from spine_rt.export.model_families import EXPORTABLE_MODELS, ModelFamily, model_family


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export trained networks to a verified model package (ONNX FP32 + FP16)",
        description="Export a model to one package folder: FP32 and strongly typed FP16 ONNX graphs per "
        "stage and fold, the torch weights, and manifest.json (labels, preprocessing, IO, sha256, provenance). "
        "Every graph is checked against torch with onnxruntime before the package is published; "
        "a failure leaves no package.",
    )
    parser.add_argument("model", metavar="MODEL", help=f"model to export: {', '.join(EXPORTABLE_MODELS)}")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="[STAGE=]PATH",
                        help="checkpoint of a stage (sshsnet: stage1=S1.pt, stage2=S2.pt; one-stage models: "
                        "PATH); repeat a stage for folds. spine-rt's own checkpoints and the SSHSNet authors' "
                        "M<score>.pkl files are recognised by their keys")
    parser.add_argument("--out", required=True, metavar="PKG", help="package folder to create")
    parser.add_argument("--preset", choices=("full", "tiny"), default=None,
                        help="network size (default: the checkpoints' preset, else full, the paper network)")
    parser.add_argument("--precision", default=None, metavar="LIST",
                        help="precisions to write, comma separated: fp32, fp16 (default: fp32,fp16; "
                        "fp32 is always written)")
    parser.add_argument("--labels", default=None, metavar="JSON",
                        help="labels.json ({id: name} or [names]) overriding the default labels; sets num_classes")
    parser.add_argument("--patch-size", action="append", default=[], metavar="[STAGE=]SIZES",
                        help="spatial input size of a stage, e.g. stage2=192,192,12 or stage1=256,512 "
                        "(one-stage models: 512,512); default: the size the checkpoint was trained with "
                        "(spine-rt train records it), else the model's default; a size other than the trained "
                        "one is warned about")
    parser.add_argument("--random-init", action="store_true",
                        help="export untrained, seeded weights instead of checkpoints (tests, benchmarks)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of --random-init and the parity inputs (default 0)")
    parser.add_argument("--relabel-levels", action=argparse.BooleanOptionalAction, default=None,
                        help="sshsnet: record in the package that the level recount runs by default (or not) "
                        "when the package is used; spine-rt infer/evaluate --no-relabel-levels still override it "
                        "(default: record nothing, the pipeline's default, off, applies)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing package at --out (atomically)")
    parser.set_defaults(run=run)


def parse_patch_sizes(family: ModelFamily, specs: list[str]) -> dict[str, tuple[int, ...]]:
    """``["stage2=32,32,4"]`` -> ``{"stage2": (32, 32, 4)}``; a bare size means the only stage.

    Raises:
        InputError: a malformed spec or an unknown stage.
    """
    sizes: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        stage, separator, numbers = spec.rpartition("=")
        if not separator:
            if len(family.stages) != 1:
                raise InputError(f"--patch-size {spec!r}: {family.name} has several stages; write STAGE=SIZES "
                                 f"with STAGE one of {', '.join(family.stage_names)}")
            stage = family.stage_names[0]
        family.stage(stage)
        try:
            sizes[stage] = tuple(int(item) for item in numbers.replace("x", ",").split(","))
        except ValueError:
            raise InputError(f"--patch-size {spec!r}: sizes must be integers separated by commas") from None
    return sizes


def _summary(package) -> list[str]:
    manifest = package.manifest
    lines = [f"wrote {package.root} ({manifest.model}, {len(manifest.labels)} classes, "
             f"{len(manifest.files)} files)"]
    for stage, source_format in manifest.provenance.get("source_formats", {}).items():
        lines.append(f"  {stage}: checkpoints in {source_format} layout")
    worst: dict[tuple[str, int, str], dict[str, float | None]] = defaultdict(dict)
    for record in manifest.provenance.get("parity", ()):
        key = (record["stage"], record["fold"], record["precision"])
        entry = worst[key]
        entry["relative_error"] = max(entry.get("relative_error") or 0.0, record["relative_error"])
        if record["argmax_agreement"] is not None:
            entry["argmax_agreement"] = min(entry.get("argmax_agreement") or 1.0, record["argmax_agreement"])
    for (stage, fold, precision), entry in worst.items():
        agreement = entry.get("argmax_agreement")
        lines.append(f"  {stage} fold{fold} {precision}: onnxruntime vs torch relative error "
                     f"{entry['relative_error']:.2e}"
                     + (f", argmax agreement {100 * agreement:.2f} %" if agreement is not None else ""))
    return lines


def run(args: argparse.Namespace) -> int:
    from spine_rt.dependencies import require

    family = model_family(args.model)
    for module in ("torch", "onnx", "onnxscript"):
        require(module, "spine-rt export")
    from spine_rt.export.checkpoint_arguments import parse_checkpoint_specs
    from spine_rt.export.package_export import export_package

    if args.random_init and args.checkpoint:
        raise InputError("give either --checkpoint or --random-init, not both")
    checkpoints = parse_checkpoint_specs(family, args.checkpoint) if args.checkpoint else None
    package = export_package(
        family.name,
        out=args.out,
        checkpoints=checkpoints,
        preset=args.preset,
        precisions=args.precision,
        labels=args.labels,
        patch_sizes=parse_patch_sizes(family, args.patch_size),
        random_init=args.random_init,
        seed=args.seed,
        overwrite=args.overwrite,
        relabel_levels=args.relabel_levels,
    )
    print("\n".join(_summary(package)))
    return 0
