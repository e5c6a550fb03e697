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
    python scripts/train_demo_model.py --evaluate-only --out spine_rt/demo_model   # score a package only
    # continue from a package on phantoms with more varied fields of view (how the committed package was made)
    python scripts/train_demo_model.py --init-package PKG --extra-field-mm 50 --lr 5e-4 \
        --stage-one-phantoms 64 --stage-two-phantoms 80 --stage-one-epochs 50 --stage-two-epochs 12

After exporting, the script scores the package on phantoms no stage saw in
training (``--evaluate-seeds``, default 1000-1009) and prints the mean Dice
of each and their mean.

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
#: stage one's phantoms (seeds 0-47: 42 train, 6 validation): enough fields of view that the top of the spine
#: (T9-T11, which only the position along the spine tells apart) is labelled on unseen scans too
STAGE_ONE_PHANTOMS = 48
#: stage two's phantoms (seeds 0-63: 56 train, 8 validation): more variety, and a quarter of them unseen by
#: stage one, so that stage two learns on stage one's errors as they look on new scans
STAGE_TWO_PHANTOMS = 64
VALIDATION_FRACTION = "0.125"
SEED = 0
#: stage one's crop (S->I, A->P) on its 2.4 mm grid: a whole phantom slice
STAGE_ONE_CROP = "160,80"
#: stage two's patch (S->I, A->P, slices) at 1.2 mm: trained and exported with this size
STAGE_TWO_PATCH = (96, 96, 12)
#: stage one's exported input: one window holds a whole slice of the demo phantom
STAGE_ONE_PATCH = (176, 112)
#: files of the package folder that are not part of the exported package
KEPT_NAMES = ("__init__.py", "__pycache__")
#: phantoms the package is scored on after training (none of them is a training phantom)
EVALUATION_SEEDS = "1000-1009"
#: ``--extra-field-mm`` of the committed package's continuation run: training phantoms get up to this much more
#: superior-inferior field of view (mm, split at random above T9 and below S1; ``spine_mr(extra_field_mm=)``).
#: With the standard placement the image shows 35-54 mm above T9's label (40 seeds sampled), and the previous
#: model named the levels from the top of the image (unseen seed 2019 shows 60 mm, 2008 49 mm: T9 -> T10)
EXTRA_FIELD_MM = 50.0


def phantom_source(phantoms: int, folder: Path | None) -> list[str]:
    """``--phantoms N`` (the standard phantoms, drawn by the recipe) or ``--data FOLDER`` (written by
    :func:`write_phantoms`)."""
    return ["--phantoms", str(phantoms)] if folder is None else ["--data", str(folder)]


def write_phantoms(folder: Path, count: int, extra_field_mm: float) -> Path:
    """Draw phantoms ``0..count-1`` on the demo grid with ``extra_field_mm`` and write them as NIfTI pairs.

    ``folder/phantom_NNNN_image.nii.gz`` and ``_label.nii.gz`` (names in seed
    order, so ``--validation-fraction`` holds out the last seeds, as with
    ``--phantoms``); the arrays are those ``spine_mr(seed, spacing=...,
    extra_field_mm=...)`` returns, on the model grid (no resampling in training).
    """
    from spine_rt.io import Image, save_image, save_labels
    from spine_rt.phantoms import spine_mr

    along_si, along_ap, between_slices = (float(v) for v in SPACING_MM.split(","))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for seed in range(count):
        phantom = spine_mr(seed, spacing=(between_slices, along_si, along_ap), extra_field_mm=extra_field_mm)
        image = Image(phantom.image, phantom.affine)
        save_image(image, folder / f"phantom_{seed:04d}_image.nii.gz")
        save_labels(phantom.labels, image, folder / f"phantom_{seed:04d}_label.nii.gz")
    return folder


def package_initial_weights(package: Path, folder: Path) -> dict[str, Path]:
    """Training checkpoints (``spine-rt train ... --init``) holding the weights of a package's two stages.

    Each stage's ``fold0.weights.pt`` (the exported network's state dict) is
    wrapped as a ``stage1`` / ``stage2`` training checkpoint in ``folder``, so
    that training continues from that package (with a new optimiser).
    """
    import torch

    from spine_rt.model_package import ModelPackage
    from spine_rt.train.checkpoints import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, network_config,
                                            save_training_checkpoint)

    opened = ModelPackage.open(package)
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for stage, description in opened.manifest.stages.items():
        weights = [w for w in description.weights if w.fold == 0][0]
        state = torch.load(package / weights.path, map_location="cpu", weights_only=True)
        found[stage] = save_training_checkpoint(folder / f"{stage}_init.pt", {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "recipe": stage,
            "state_dict": state, "config": network_config(description.network, description.preset, {}),
            "source": f"{package} ({weights.path})"})
    return found


def stage_one_arguments(run: Path, threads: int, iterations: int, epochs: int,
                        phantoms: int = STAGE_ONE_PHANTOMS, data: Path | None = None,
                        tuning: list[str] = ()) -> list[str]:
    """``spine-rt train stage1`` arguments of the demo model (``tuning``: ``--init``/``--lr`` when continuing)."""
    return ["train", "stage1", *phantom_source(phantoms, data), "--validation-fraction", VALIDATION_FRACTION,
            "--preset", "tiny", "--spacing", SPACING_MM,
            "--crop", STAGE_ONE_CROP, "--batch-size", "2", "--iterations", str(iterations),
            "--epochs", str(epochs), "--cps-rampup", "200", "--seed", str(SEED), "--threads", str(threads),
            *tuning, "--no-progress", "--out", str(run), "--overwrite"]


def stage_two_arguments(run: Path, stage_one: Path, threads: int, iterations: int, epochs: int,
                        phantoms: int = STAGE_TWO_PHANTOMS, data: Path | None = None,
                        tuning: list[str] = ()) -> list[str]:
    """``spine-rt train stage2`` arguments of the demo model (``tuning``: ``--init``/``--lr`` when continuing)."""
    return ["train", "stage2", *phantom_source(phantoms, data), "--validation-fraction", VALIDATION_FRACTION,
            "--preset", "tiny", "--stage-one", str(stage_one),
            "--patch", ",".join(str(s) for s in STAGE_TWO_PATCH), "--batch-size", "2",
            "--iterations", str(iterations), "--epochs", str(epochs), "--seed", str(SEED),
            "--threads", str(threads), *tuning, "--no-progress", "--out", str(run), "--overwrite"]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/spine-rt-demo-training"),
                        help="folder for the two training runs (default /tmp/spine-rt-demo-training)")
    parser.add_argument("--out", type=Path, default=DEMO_PACKAGE, help=f"the package folder (default {DEMO_PACKAGE})")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: two threads on cores shared with other jobs run far slower)")
    parser.add_argument("--stage-one-iterations", type=int, default=80, help="steps per stage-one epoch (80)")
    parser.add_argument("--stage-one-epochs", type=int, default=240, help="stage-one epochs (240)")
    parser.add_argument("--stage-two-iterations", type=int, default=80, help="steps per stage-two epoch (80)")
    parser.add_argument("--stage-two-epochs", type=int, default=40, help="stage-two epochs (40)")
    parser.add_argument("--stage-one-phantoms", type=int, default=STAGE_ONE_PHANTOMS,
                        help=f"stage-one phantoms, seeds 0..N-1 ({STAGE_ONE_PHANTOMS})")
    parser.add_argument("--stage-two-phantoms", type=int, default=STAGE_TWO_PHANTOMS,
                        help=f"stage-two phantoms, seeds 0..N-1 ({STAGE_TWO_PHANTOMS})")
    parser.add_argument("--extra-field-mm", type=float, default=None,
                        help=f"train on phantoms with 0..this many mm more superior-inferior field of view "
                             f"('spine_mr(extra_field_mm=)', written to WORK/phantoms_stage*; the committed package: "
                             f"{EXTRA_FIELD_MM:g}); default: the standard phantoms ('--phantoms N')")
    parser.add_argument("--init-package", type=Path, default=None,
                        help="continue from this package's weights (e.g. spine_rt/demo_model) instead of training "
                             "from scratch: each stage starts from them with a new optimiser")
    parser.add_argument("--lr", default=None, help="Adam learning rate of both stages (the recipes' 1e-3)")
    parser.add_argument("--skip-stage-one", action="store_true", help="reuse WORK/stage1/best.pt")
    parser.add_argument("--skip-stage-two", action="store_true", help="reuse WORK/stage2/best.pt (export only)")
    parser.add_argument("--evaluate-seeds", default=EVALUATION_SEEDS,
                        help=f"phantom seeds FIRST-LAST the package is scored on afterwards ({EVALUATION_SEEDS}); "
                             "'none' skips the scoring")
    parser.add_argument("--evaluate-only", action="store_true", help="only score the package at --out")
    return parser.parse_args(argv)


def seed_range(text: str) -> list[int]:
    """``"1000-1009"`` -> ``[1000, ..., 1009]``; ``"none"`` -> ``[]``."""
    if text == "none":
        return []
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def evaluate_package(package: Path, seeds: list[int]) -> dict[int, float]:
    """Mean Dice (structures present) of the package on the phantom of each seed, on the package's own grid."""
    import numpy as np

    from spine_rt.demo import dice_per_structure, phantom_spacing_of_package
    from spine_rt.io import Image
    from spine_rt.model_package import ModelPackage
    from spine_rt.phantoms import spine_mr
    from spine_rt.pipelines.load import load_pipeline

    opened = ModelPackage.open(package)
    names = {int(k): v for k, v in opened.manifest.labels.items()}
    spacing = phantom_spacing_of_package(opened.manifest.preprocessing)
    scores = {}
    with load_pipeline(opened, backend="onnxruntime", device="cpu") as pipeline:
        for seed in seeds:
            phantom = spine_mr(seed, spacing=spacing)
            labels = pipeline(Image(phantom.image, phantom.affine)).labels
            scores[seed] = float(np.mean(list(dice_per_structure(labels, phantom.labels, names).values())))
            print(f"phantom {seed}: mean Dice {scores[seed]:.3f}", flush=True)
    if scores:
        print(f"mean over {len(scores)} phantoms: {np.mean(list(scores.values())):.3f} "
              f"(lowest {min(scores.values()):.3f})", flush=True)
    return scores


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
    if args.evaluate_only:
        evaluate_package(args.out, seed_range(args.evaluate_seeds))
        return 0
    stage_one_run, stage_two_run = args.work / "stage1", args.work / "stage2"
    varied = args.extra_field_mm is not None
    stage_one_data = args.work / "phantoms_stage1" if varied else None
    stage_two_data = args.work / "phantoms_stage2" if varied else None
    tuning = {"stage1": [], "stage2": []}
    if args.init_package is not None:
        for stage, checkpoint in package_initial_weights(args.init_package, args.work / "init").items():
            tuning[stage] += ["--init", str(checkpoint)]
    if args.lr is not None:
        for stage in tuning:
            tuning[stage] += ["--lr", str(args.lr)]
    if not args.skip_stage_one and not args.skip_stage_two:
        if varied:
            write_phantoms(stage_one_data, args.stage_one_phantoms, args.extra_field_mm)
        code = spine_rt_main(stage_one_arguments(stage_one_run, args.threads, args.stage_one_iterations,
                                                 args.stage_one_epochs, args.stage_one_phantoms, stage_one_data,
                                                 tuning["stage1"]))
        if code:
            return code
    if not args.skip_stage_two:
        if varied:
            write_phantoms(stage_two_data, args.stage_two_phantoms, args.extra_field_mm)
        code = spine_rt_main(stage_two_arguments(stage_two_run, stage_one_run / "best.pt", args.threads,
                                                 args.stage_two_iterations, args.stage_two_epochs,
                                                 args.stage_two_phantoms, stage_two_data,
                                                 tuning["stage2"]))
        if code:
            return code
    export_demo_package(stage_one_run / "best.pt", stage_two_run / "best.pt", args.out)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(json.dumps({"package": str(args.out), "megabytes": round(size / 1e6, 2)}))
    evaluate_package(args.out, seed_range(args.evaluate_seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
