"""Train the bundled demo model: a tiny two-stage SSHSNet, on synthetic phantoms only.

Runs the project's own recipes (``spine-rt train stage1`` then ``spine-rt
train stage2``, with a fixed seed) and exports the result with
:func:`spine_rt.export.export_package` into ``spine_rt/demo_model/`` (or
``--out``). The grid is coarse on purpose, so that the demo is fast on a
CPU: stage two at 1.2 x 1.2 mm in-plane (stage one at 2.4 mm), 4.4 mm
between sagittal slices. See ``docs/demo_model.md``.

::

    python scripts/train_demo_model.py                       # about 35 min on 2 shared CPU cores
    python scripts/train_demo_model.py --work /tmp/demo_runs --out /tmp/demo_pkg

The model knows phantoms only; it is not for clinical use.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_PACKAGE = REPOSITORY / "spine_rt" / "demo_model"

#: the demo's model grid (mm) along the model axes (S->I, A->P, sagittal slices)
SPACING_MM = "1.2,1.2,4.4"
#: stage one's phantoms (seeds 0-15: 12 train, 4 validation with the default validation fraction 0.2)
STAGE_ONE_PHANTOMS = 16
#: stage two's phantoms (seeds 0-31: 28 train, 4 validation): more variety, and most of them unseen by stage one,
#: so that stage two learns on stage one's errors as they look on new scans
STAGE_TWO_PHANTOMS = 32
STAGE_TWO_VALIDATION_FRACTION = "0.125"
SEED = 0
#: stage one's crop (S->I, A->P) on its 2.4 mm grid: a whole phantom slice
STAGE_ONE_CROP = "160,80"
#: stage two's patch (S->I, A->P, slices) at 1.2 mm: trained and exported with this size
STAGE_TWO_PATCH = (96, 96, 12)
#: stage one's exported input: one window holds a whole slice of the demo phantom
STAGE_ONE_PATCH = (176, 112)
#: files of the package folder that are not part of the exported package
KEPT_NAMES = ("__init__.py", "__pycache__")


def stage_one_arguments(run: Path, threads: int, iterations: int, epochs: int) -> list[str]:
    """``spine-rt train stage1`` arguments of the demo model."""
    return ["train", "stage1", "--phantoms", str(STAGE_ONE_PHANTOMS), "--preset", "tiny", "--spacing", SPACING_MM,
            "--crop", STAGE_ONE_CROP, "--batch-size", "2", "--iterations", str(iterations),
            "--epochs", str(epochs), "--cps-rampup", "200", "--seed", str(SEED), "--threads", str(threads),
            "--no-progress", "--out", str(run), "--overwrite"]


def stage_two_arguments(run: Path, stage_one: Path, threads: int, iterations: int, epochs: int) -> list[str]:
    """``spine-rt train stage2`` arguments of the demo model."""
    return ["train", "stage2", "--phantoms", str(STAGE_TWO_PHANTOMS),
            "--validation-fraction", STAGE_TWO_VALIDATION_FRACTION, "--preset", "tiny", "--stage-one", str(stage_one),
            "--patch", ",".join(str(s) for s in STAGE_TWO_PATCH), "--batch-size", "2",
            "--iterations", str(iterations), "--epochs", str(epochs), "--seed", str(SEED),
            "--threads", str(threads), "--no-progress", "--out", str(run), "--overwrite"]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/spine-rt-demo-training"),
                        help="folder for the two training runs (default /tmp/spine-rt-demo-training)")
    parser.add_argument("--out", type=Path, default=DEMO_PACKAGE, help=f"the package folder (default {DEMO_PACKAGE})")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: two threads on cores shared with other jobs run far slower)")
    parser.add_argument("--stage-one-iterations", type=int, default=80, help="steps per stage-one epoch (80)")
    parser.add_argument("--stage-one-epochs", type=int, default=120, help="stage-one epochs (120)")
    parser.add_argument("--stage-two-iterations", type=int, default=80, help="steps per stage-two epoch (80)")
    parser.add_argument("--stage-two-epochs", type=int, default=40, help="stage-two epochs (40)")
    parser.add_argument("--skip-stage-one", action="store_true", help="reuse WORK/stage1/best.pt")
    parser.add_argument("--skip-stage-two", action="store_true", help="reuse WORK/stage2/best.pt (export only)")
    return parser.parse_args(argv)


def export_demo_package(stage_one: Path, stage_two: Path, out: Path) -> None:
    """Export both checkpoints as the demo package at ``out`` (FP32 only: the demo runs on CPUs).

    The package is exported into a fresh sibling folder and its files then
    replace the package files in ``out``; ``out``'s ``__init__.py`` (which
    makes ``spine_rt/demo_model`` an importable package) is kept.
    """
    from spine_rt.export import export_package

    staging = out.parent / f".{out.name}-export"
    export_package("sshsnet", out=staging, checkpoints={"stage1": stage_one, "stage2": stage_two}, preset="tiny",
                   precisions="fp32", patch_sizes={"stage1": STAGE_ONE_PATCH, "stage2": STAGE_TWO_PATCH},
                   seed=SEED, overwrite=True)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.name not in KEPT_NAMES:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for new in staging.iterdir():
        new.rename(out / new.name)
    staging.rmdir()


def main(argv: list[str] | None = None) -> int:
    from spine_rt.cli.main import main as spine_rt_main

    args = parse_arguments(argv)
    stage_one_run, stage_two_run = args.work / "stage1", args.work / "stage2"
    if not args.skip_stage_one and not args.skip_stage_two:
        code = spine_rt_main(stage_one_arguments(stage_one_run, args.threads, args.stage_one_iterations,
                                                 args.stage_one_epochs))
        if code:
            return code
    if not args.skip_stage_two:
        code = spine_rt_main(stage_two_arguments(stage_two_run, stage_one_run / "best.pt", args.threads,
                                                 args.stage_two_iterations, args.stage_two_epochs))
        if code:
            return code
    export_demo_package(stage_one_run / "best.pt", stage_two_run / "best.pt", args.out)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(json.dumps({"package": str(args.out), "megabytes": round(size / 1e6, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
