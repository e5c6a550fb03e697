"""``spine-rt evaluate``: score a model package on labelled scans (like nnU-Net's ``evaluate_folder``).

::

    spine-rt evaluate PKG IMAGES_DIR LABELS_DIR [--labels-map JSON] [--json F] [--csv F]
                      [--predictions DIR] [--min-dice X] [--backend B] [--device D] [--tta]

Runs the package on every image through ``load_pipeline`` (exactly what
``spine-rt infer`` runs), or scores the label maps of ``--predictions``
instead, and prints per case and per structure Dice, HD95 (mm), missing and
extra structures and level shifts. Exit 0; 1 when ``--min-dice`` is given
and the mean Dice falls below it (a failed check, like ``verify``); 2 for
bad input (unpaired files, a truth value the label set does not name, a
label map on another grid than its image), nothing written then.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from spine_rt.errors import InputError
from spine_rt.runtime.backends import BACKEND_NAMES

EXIT_BELOW_MIN_DICE = 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model package on a folder of labelled scans (Dice, HD95, level shifts)",
        description="Run a spine MR package on every image of IMAGES_DIR through the product path (load_pipeline, "
        "as spine-rt infer) or read --predictions, and score each case against LABELS_DIR: Dice and 95th-percentile "
        "Hausdorff distance (mm) per structure, missing and extra structures, level shifts (a predicted level "
        "lying mostly on a neighbouring true level), per case and overall. Images and labels pair by name "
        "(NAME_image / NAME_label / NAME_0000 / NAME; one folder may hold both). Exit 1 when the mean Dice is "
        "below --min-dice, 2 on bad input.",
    )
    parser.add_argument("package", metavar="PKG", help="spine MR model package folder")
    parser.add_argument("images", metavar="IMAGES_DIR", help="folder of NIfTI images")
    parser.add_argument("labels", metavar="LABELS_DIR", help="folder of NIfTI truth label maps (may be IMAGES_DIR)")
    parser.add_argument("--labels-map", default=None, metavar="JSON",
                        help="labels.json {id: name} of the truth files, matched to the package's labels by name "
                        "(default: the truth uses the package's ids)")
    parser.add_argument("--predictions", default=None, metavar="DIR",
                        help="score these label maps (e.g. spine-rt infer's NAME_seg.nii.gz) instead of running "
                        "the package")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the full report as JSON (atomic)")
    parser.add_argument("--csv", default=None, metavar="FILE",
                        help="write one row per case and structure as CSV (atomic)")
    parser.add_argument("--min-dice", type=float, default=None, metavar="X",
                        help=f"exit {EXIT_BELOW_MIN_DICE} when the mean Dice is below X")
    parser.add_argument("--backend", default=None, choices=BACKEND_NAMES,
                        help="backend (default auto, as spine-rt infer)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: best available)")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation")
    parser.add_argument("--relabel-levels", action=argparse.BooleanOptionalAction, default=None,
                        help="the level recount (default: what the package records, else off; as spine-rt infer)")
    parser.set_defaults(run=run)


def _check_outputs(args: argparse.Namespace) -> None:
    """Validate --json/--csv before any work: not a folder, not an input, not inside the package."""
    inputs = {Path(p).resolve() for p in (args.package, args.images, args.labels, args.labels_map,
                                          args.predictions) if p}
    package = Path(args.package).resolve()
    outputs = [Path(p) for p in (args.json, args.csv) if p]
    for output in outputs:
        resolved = output.resolve()
        if output.is_dir():
            raise InputError(f"{output} is a folder; give a file name")
        if resolved in inputs or package in resolved.parents:
            raise InputError(f"{output} is an input or inside the package; refusing to write it")
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise InputError("--json and --csv name the same file")


def run(args: argparse.Namespace) -> int:
    from spine_rt.evaluation import evaluate_folder

    if args.min_dice is not None and not (math.isfinite(args.min_dice) and 0.0 <= args.min_dice <= 1.0):
        raise InputError(f"--min-dice must be between 0 and 1, got {args.min_dice}")
    _check_outputs(args)
    options = {} if args.predictions else {"backend": args.backend, "device": args.device, "tta": args.tta or None,
                                                  "relabel_levels": args.relabel_levels}
    report = evaluate_folder(args.package, args.images, args.labels, labels_map=args.labels_map,
                             predictions=args.predictions,
                             progress=lambda line: print(line, file=sys.stderr, flush=True), **options)
    print(report.format_table())
    if args.json:
        report.write_json(args.json)
    if args.csv:
        report.write_csv(args.csv)
    if args.min_dice is not None and not report.mean_dice >= args.min_dice:
        print(f"spine-rt evaluate: mean Dice {report.mean_dice:.4f} is below --min-dice {args.min_dice}",
              file=sys.stderr)
        return EXIT_BELOW_MIN_DICE
    return 0
