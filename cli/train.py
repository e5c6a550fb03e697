"""``spine-rt train``: the training recipes (stage one with CPS, stage two, MBNet).

::

    spine-rt train stage1 --data DIR [--unlabelled DIR] --out RUN1 [--preset tiny] [--spacing native]
    spine-rt train stage2 --data DIR --stage-one RUN1/best.pt --out RUN2 [--patch 64,64,12]
    spine-rt train mbnet  --phantoms 40 --out RUN3 [--image-size 512,512]
    spine-rt train stage1 --phantoms 2 --preset tiny --iterations 2 --out /tmp/run   # a smoke test

Each run writes ``last.pt`` and ``best.pt`` (training checkpoints that
``spine-rt export`` and ``load_checkpoint`` read), ``training_log.json`` and
``labels.json`` into ``--out``; ``--resume RUN/last.pt`` continues a run.
torch and MONAI are imported inside :func:`run` only, so ``spine-rt --help``
works on the base install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError

RECIPES = ("stage1", "stage2", "mbnet")


def _sizes(text: str, count: int, what: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace("x", ",").split(",") if part)
    except ValueError:
        raise InputError(f"{what} must be {count} integers separated by commas, got {text!r}") from None
    if len(sizes) != count:
        raise InputError(f"{what} must be {count} integers separated by commas, got {text!r}")
    return sizes


def _add_common(parser: argparse.ArgumentParser, mr: bool) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="DIR", help="folder of NAME_image / NAME_label pairs" +
                      (" (NIfTI); its labels.json is used when present" if mr else
                       " (PNG) with NAME_values.json"))
    data.add_argument("--phantoms", type=int, metavar="N", help="train on N synthetic scans instead of --data")
    data.add_argument("--validation", metavar="DIR", help="folder of pairs for validation "
                      "(default: hold out the last --validation-fraction of the scans in name order)")
    data.add_argument("--validation-fraction", type=float, metavar="F", help="share held out for validation (0.2)")
    if mr:
        data.add_argument("--labels", metavar="JSON", help="labels.json {id: name}; sets the number of classes "
                          "(default: DATA/labels.json, else the 20 MRSpineSeg labels)")
    training = parser.add_argument_group("training")
    training.add_argument("--out", metavar="DIR", help="output folder (default with --resume: the checkpoint's folder)")
    training.add_argument("--preset", choices=("full", "tiny"), help="network size (default full, the paper network)")
    training.add_argument("--epochs", type=int, help="total epochs (1)")
    training.add_argument("--iterations", type=int, help="optimiser steps per epoch (100)")
    training.add_argument("--batch-size", type=int, help="samples per step")
    training.add_argument("--lr", type=float, help="Adam learning rate (1e-3)")
    training.add_argument("--lr-schedule", choices=("constant", "poly"),
                          help="learning rate held constant (the default) or decayed by nnU-Net's poly rule "
                          "(1 - step/total)^0.9 over all the run's steps")
    training.add_argument("--grad-clip", type=float, help="gradient-norm clipping (12)")
    training.add_argument("--seed", type=int, help="seed of weights, sampling, dropout and augmentation (0)")
    training.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when visible, else cpu)")
    training.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                          help="float16 autocast + gradient scaling (default: on for CUDA; CUDA only)")
    training.add_argument("--no-augment", action="store_true", help="switch off the random augmentations")
    training.add_argument("--resume", metavar="CKPT", help="continue from a run's last.pt")
    training.add_argument("--init", metavar="CKPT", help="start from the weights of another run of this recipe "
                          "(e.g. pretrained on --phantoms), with a new optimiser and epoch 1")
    training.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    training.add_argument("--no-progress", action="store_true", help="no progress bars")
    training.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice; "
                          "1 on a machine shared with other jobs)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train stage one (CPS), stage two or MBNet",
        description="Training recipes of SEEDS.md: 'stage1' trains the two stage-one branches with cross pseudo "
        "supervision and CutMix, 'stage2' trains stage two on class-balanced patches with a frozen stage one, "
        "'mbnet' trains MBNet's segmentation and value regression. Adam 1e-3, gradient-norm clipping 12.",
    )
    recipes = parser.add_subparsers(dest="recipe", metavar="RECIPE", required=True)

    stage1 = recipes.add_parser("stage1", help="stage one: two DeepLabv3+ branches with CPS + CutMix",
                                description="Train the stage-one pair on 3-slice crops at stage one's grid.")
    _add_common(stage1, mr=True)
    stage1.add_argument("--unlabelled", metavar="DIR", help="folder of unlabelled NIfTI scans for CPS")
    stage1.add_argument("--spacing", help="training grid: 'model' (0.3448 x 0.3448 x 4.4 mm, default), 'native' "
                        "(the first scan's own spacing) or X,Y,Z mm along (S-I, A-P, slices)")
    stage1.add_argument("--stage-one-factor", type=int, metavar="F",
                        help="stage one works at F times stage two's in-plane spacing (2)")
    stage1.add_argument("--crop", metavar="X,Y", help="crop on stage one's grid, multiples of 16 (512,256)")
    stage1.add_argument("--cps-weight", type=float, help="weight of the cross pseudo supervision term (1)")
    stage1.add_argument("--cps-rampup", type=int, metavar="N", help="raise the CPS weight from 0 over the first N "
                        "steps (sigmoid ramp-up; default 0 = full weight at once, as SEEDS)")
    stage1.add_argument("--spine-augmentation", action="store_true",
                        help="also shift along the spine (25 %%), cut the field of view and vary the contrast "
                        "(gamma, bias field): for few scans of one site")
    stage1.set_defaults(run=run)

    stage2 = recipes.add_parser("stage2", help="stage two: 3D DeepLabv3+ with cross tri-attention",
                                description="Train stage two on class-balanced patches; the stage one of "
                                "--stage-one is frozen and sets the grid and the labels.")
    _add_common(stage2, mr=True)
    stage2.add_argument("--stage-one", metavar="CKPT", help="the stage-one checkpoint (a stage1 run's best.pt)")
    stage2.add_argument("--patch", metavar="X,Y,Z", help="patch size, X and Y multiples of 16 (192,192,12)")
    stage2.add_argument("--spine-augmentation", action="store_true",
                        help="also vary the MR channel's contrast (gamma, bias field), as stage one's "
                        "--spine-augmentation: for few scans of one site")
    stage2.set_defaults(run=run)

    mbnet = recipes.add_parser("mbnet", help="MBNet: X-ray segmentation + 18 inspection values",
                               description="Train MBNet (loss 0.9 CE + 0.1 MSE on min-max scaled values).")
    _add_common(mbnet, mr=False)
    mbnet.add_argument("--image-size", metavar="H,W", help="network input size, multiples of 32 (512,512)")
    mbnet.set_defaults(run=run)


def _given(**values: Any) -> dict[str, Any]:
    """Only the options the user gave (the recipes own the defaults)."""
    return {key: value for key, value in values.items() if value is not None}


def _print_epoch(record: dict) -> None:
    validation = record["validation"]
    mean = validation.get("mean_dice")
    classes = ", ".join(f"{name} {'-' if v is None else f'{v:.3f}'}" for name, v in validation["per_class"].items())
    extra = "".join(f", {k} {v:.3g}" for k, v in validation.get("extra", {}).items())
    print(f"epoch {record['epoch']}: loss {record['loss']:.4f}, validation mean Dice "
          f"{'-' if mean is None else f'{mean:.4f}'} ({classes}){extra} [{record['seconds']:.1f} s]", flush=True)


def run(args: argparse.Namespace) -> int:
    from spine_rt.dependencies import require

    require("torch", "spine-rt train")
    require("monai", "spine-rt train")
    from spine_rt.train.checkpoints import read_training_checkpoint
    from spine_rt.train.loop import TrainingOptions

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be a positive integer, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    resume = read_training_checkpoint(args.resume, args.recipe) if args.resume else None
    if args.init and args.resume:
        raise InputError("give --init or --resume, not both (--resume continues a run with its own weights)")
    out = args.out if args.out is not None else (str(Path(args.resume).parent) if args.resume else None)
    if out is None:
        raise InputError("--out DIR is required (the folder for checkpoints and logs)")
    options = TrainingOptions(**_given(
        epochs=args.epochs, iterations=args.iterations, learning_rate=args.lr, lr_schedule=args.lr_schedule,
        grad_clip_norm=args.grad_clip,
        seed=args.seed, device=args.device, mixed_precision=args.mixed_precision, resume=args.resume,
        initial_weights=args.init,
    ), progress=not args.no_progress and sys.stderr.isatty())
    recipe_run = {"stage1": _train_stage_one, "stage2": _train_stage_two, "mbnet": _train_mbnet}[args.recipe]
    result = recipe_run(args, options, resume, out)
    if result.epochs_run == 0:
        print(f"nothing to do: {args.resume} already reached epoch {options.epochs}")
        return 0
    final = result.history[-1]["validation"].get("mean_dice")
    print(f"wrote {result.last_checkpoint} (epoch {result.history[-1]['epoch']}, validation mean Dice "
          f"{'-' if final is None else f'{final:.4f}'}) and {result.best_checkpoint}")
    return 0


def _mr_data(args: argparse.Namespace, **extra: Any):
    from spine_rt.train.mr_data import load_mr_training_data

    return load_mr_training_data(args.data, **_given(
        phantoms=args.phantoms, validation=args.validation, validation_fraction=args.validation_fraction,
        phantom_seed=args.seed,
    ), **extra)


def _train_stage_one(args: argparse.Namespace, options, resume, out: str):
    from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
    from spine_rt.train.stage_one import StageOneRecipe

    if resume is not None:
        extra = {"preprocessing": MrPreprocessing.from_manifest(resume["preprocessing"]),
                 "label_map": {int(k): v for k, v in resume["labels"].items()}}
        if args.spacing or args.stage_one_factor or args.labels:
            raise InputError("--spacing, --stage-one-factor and --labels come from the resumed checkpoint")
    else:
        extra = _given(labels=args.labels, spacing=args.spacing, resolution_factor=args.stage_one_factor)
    data = _mr_data(args, unlabelled=args.unlabelled, **extra)
    settings = resume["settings"] if resume is not None else {}
    recipe = StageOneRecipe(**_given(
        preset=resume["config"]["preset"] if resume is not None else args.preset,
        crop_size=_sizes(args.crop, 2, "--crop") if args.crop else settings.get("crop_size"),
        batch_size=args.batch_size, cps_weight=args.cps_weight,
        cps_rampup_iterations=args.cps_rampup if args.cps_rampup is not None else settings.get("cps_rampup_iterations"),
        spine_augmentation=args.spine_augmentation or settings.get("spine_augmentation") or None,
    ), augment=not args.no_augment)
    return recipe.train(data, out, options, resume, args.overwrite, _print_epoch)


def _train_stage_two(args: argparse.Namespace, options, resume, out: str):
    from spine_rt.train.checkpoints import file_sha256
    from spine_rt.train.stage_two import DEFAULT_PATCH_SIZE, FrozenStageOne, StageTwoRecipe

    stage_one_path = args.stage_one
    if stage_one_path is None and resume is not None:
        stage_one_path = resume["stage_one"]["path"]
    if stage_one_path is None:
        raise InputError("--stage-one CKPT is required (the stage-one checkpoint stage two builds on)")
    if resume is not None and Path(stage_one_path).is_file() and file_sha256(stage_one_path) != resume["stage_one"]["sha256"]:
        raise InputError(f"{stage_one_path} is not the stage one the resumed run was trained with (sha256 differs)")
    stage_one = FrozenStageOne.from_checkpoint(stage_one_path)
    if args.labels:
        from spine_rt.anatomy.label_maps import load_label_map

        if load_label_map(args.labels, {}) != stage_one.label_map:
            raise InputError(f"{args.labels} differs from the labels of the stage one ({stage_one_path})")
    if resume is not None:
        patch = tuple(resume["config"]["overrides"]["patch_size"])
        if args.patch:
            raise InputError("--patch comes from the resumed checkpoint")
    else:
        patch = _sizes(args.patch, 3, "--patch") if args.patch else DEFAULT_PATCH_SIZE
    data = _mr_data(args, preprocessing=stage_one.preprocessing, label_map=stage_one.label_map, minimum_shape=patch)
    recipe = StageTwoRecipe(**_given(
        preset=resume["config"]["preset"] if resume is not None else args.preset,
        batch_size=args.batch_size,
        contrast_augmentation=(args.spine_augmentation
                               or (resume["settings"].get("contrast_augmentation") if resume is not None else None)
                               or None),
    ), patch_size=patch, augment=not args.no_augment)
    return recipe.train(data, stage_one, out, options, resume, args.overwrite, _print_epoch)


def _train_mbnet(args: argparse.Namespace, options, resume, out: str):
    from spine_rt.train.mbnet import MBNetRecipe
    from spine_rt.train.xray_data import load_xray_training_data

    if resume is not None:
        size = tuple(resume["config"]["overrides"]["image_size"])
        if args.image_size:
            raise InputError("--image-size comes from the resumed checkpoint")
    else:
        size = _sizes(args.image_size, 2, "--image-size") if args.image_size else (512, 512)
    if args.validation:
        raise InputError("mbnet takes no --validation folder; use --validation-fraction")
    data = load_xray_training_data(args.data, image_size=size, **_given(
        phantoms=args.phantoms, validation_fraction=args.validation_fraction, phantom_seed=args.seed))
    recipe = MBNetRecipe(**_given(
        preset=resume["config"]["preset"] if resume is not None else args.preset,
        batch_size=args.batch_size,
    ), augment=not args.no_augment)
    return recipe.train(data, out, options, resume, args.overwrite, _print_epoch)
