"""The loop every recipe shares and what configures it: options, device and mixed precision, seeds.

A recipe supplies a :class:`TrainingTask` (the network, how to draw a batch
and compute its loss, how to validate, what to store); :func:`run_training`
does the rest the same way for all of them:

* Adam (learning rate from :class:`TrainingOptions`) on the parameters that
  require gradients, the rate held constant or decayed step by step with
  nnU-Net's polynomial rule (``lr_schedule="poly"``:
  ``lr * (1 - step / total_steps) ** 0.9``, a function of the step count, so a
  resumed run follows the same curve); gradient-norm clipping (12); on CUDA with mixed
  precision the forward pass runs under autocast and the loss is scaled
  (gradients unscaled before clipping);
* every epoch reseeds the task (:func:`spine_rt.train.loop.epoch_seed`),
  runs ``iterations`` steps with a tqdm bar, validates, and writes
  ``last.pt`` (and ``best.pt`` when the mean validation Dice improved),
  ``training_log.json`` and ``labels.json`` into the output folder;
* ``resume`` restores weights, optimiser, scaler, epoch and history and
  continues with the next epoch; ``initial_weights`` (without ``resume``)
  starts a new run from another run's weights (pretraining, then fine-tuning).

**Options.** The options every recipe shares: schedule, optimiser, seed, device, resume.

Defaults follow SEEDS.md: Adam with learning rate 1e-3 and gradient-norm
clipping at 12. An epoch is ``iterations`` optimiser steps followed by a
validation pass and a checkpoint.

**Device and mixed precision.** Where training runs: the device, and mixed precision (autocast +
gradient scaling) on CUDA.

On CUDA, mixed precision is on by default: the forward pass runs under
``torch.autocast`` in float16 and the loss is scaled by a
``torch.amp.GradScaler`` (the gradients are unscaled before clipping). On
the CPU training runs in float32 (mixed precision there is refused: the
recipes are tested and tuned in float32).

**Seeds.** Seeds of a training run: one derived seed per epoch, so a resumed run repeats a straight
one.

Every epoch starts from ``epoch_seed(seed, epoch)``: the numpy generator of
the samplers, torch's generator (dropout, initial weights come from
``seed`` itself) and the MONAI transforms are reseeded from it. A run
resumed after epoch ``k`` therefore draws exactly the batches of epoch
``k + 1`` of an uninterrupted run. On the CPU a seeded run is repeatable
bit for bit; on CUDA, kernels chosen by cuDNN may differ slightly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.models.checkpoint import load_checkpoint
from spine_rt.train.checkpoints import (
    BEST_CHECKPOINT, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, LAST_CHECKPOINT, save_training_checkpoint)
from spine_rt.train.validation import ValidationDice


logger = logging.getLogger(__name__)

TRAINING_LOG = "training_log.json"
LABELS_FILE = "labels.json"


class TrainingTask(Protocol):
    """What a recipe gives the loop."""

    #: ``"stage1"``, ``"stage2"`` or ``"mbnet"`` (stored in checkpoints, checked on resume)
    recipe: str
    #: the network being trained (its state dict is the checkpoint's ``state_dict``), on the device
    model: nn.Module

    def start_epoch(self, seed: int, iteration: int) -> None:
        """Reseed the samplers and augmentations for a new epoch; ``iteration`` steps were taken before it."""

    def sample_batch(self) -> Any:
        """One training batch, on the device."""

    def batch_loss(self, batch: Any) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        """``(loss, named parts)`` of ``batch``; called in train mode under the device's autocast."""

    def validate(self) -> ValidationDice:
        """Validation Dice of the current weights (the task switches to eval mode and back)."""

    def checkpoint_fields(self) -> dict[str, Any]:
        """Entries stored in every checkpoint: ``config``, ``labels``, ``settings``, ``data``, ..."""


@dataclass(frozen=True)
class TrainingResult:
    """What a training run left behind.

    Attributes:
        out_dir: the output folder.
        last_checkpoint / best_checkpoint: ``last.pt`` / ``best.pt`` in it.
        history: one record per epoch (loss, parts, validation, seconds).
        validation: the last epoch's validation (None when no epoch ran).
        epochs_run: epochs run by this call (0 when a resumed run was complete).
    """

    out_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path
    history: list[dict]
    validation: ValidationDice | None
    epochs_run: int


def make_optimizer(model: nn.Module, learning_rate: float) -> torch.optim.Adam:
    """Adam over the parameters of ``model`` that require gradients."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)


def optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loss: torch.Tensor,
    grad_clip_norm: float,
) -> float:
    """Backward ``loss``, clip the gradient norm (after unscaling) and step; returns the norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip_norm)
    scaler.step(optimizer)
    scaler.update()
    return float(norm)


POLY_EXPONENT = 0.9
LR_SCHEDULES = ("constant", "poly")


def scheduled_learning_rate(base: float, schedule: str, step: int, total_steps: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total_steps``.

    ``"constant"`` returns ``base``; ``"poly"`` returns nnU-Net's polynomial decay
    ``base * (1 - step / total_steps) ** 0.9`` (``base`` at step 0, approaching 0 at the end).
    """
    if schedule == "constant":
        return base
    if schedule == "poly":
        return base * max(0.0, 1.0 - step / total_steps) ** POLY_EXPONENT
    raise InputError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(LR_SCHEDULES)}")


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def train_step(task: TrainingTask, batch: Any, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               device: TrainingDevice, grad_clip_norm: float) -> tuple[float, dict[str, float]]:
    """One optimiser step on ``batch``: ``(loss, parts)`` as floats (the loss before the step)."""
    task.model.train()
    with device.autocast():
        loss, parts = task.batch_loss(batch)
    optimizer_step(task.model, optimizer, scaler, loss, grad_clip_norm)
    return float(loss.detach()), {name: float(value.detach()) for name, value in parts.items()}


def _write_json(path: Path, content: Any) -> None:
    from spine_rt.atomic_write import write_bytes_atomic

    write_bytes_atomic(path, (json.dumps(content, indent=2) + "\n").encode())


def _is_better(score: float, best: float | None) -> bool:
    return not math.isnan(score) and (best is None or score > best)


def prepare_output_folder(out_dir: str | os.PathLike[str], resuming: bool, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse to replace a finished run's ``last.pt`` unless resuming or ``overwrite``.

    Raises:
        InputError: ``out_dir`` is a file, or holds a ``last.pt`` (without resume/overwrite).
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder {folder} is a file")
    if (folder / LAST_CHECKPOINT).exists() and not (resuming or overwrite):
        raise InputError(f"{folder} already holds a training run ({LAST_CHECKPOINT}); "
                         f"resume it with --resume {folder / LAST_CHECKPOINT}, or pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_training(
    task: TrainingTask,
    options: TrainingOptions,
    device: TrainingDevice,
    out_dir: str | os.PathLike[str],
    resume_checkpoint: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainingResult:
    """Train ``task`` for the epochs ``options`` asks (see the module docstring).

    Args:
        task: the recipe's task (its model already on ``device``).
        options: epochs, iterations, optimiser, seed.
        device: device and mixed precision.
        out_dir: folder for checkpoints and logs.
        resume_checkpoint: a loaded ``last.pt`` to continue from.
        overwrite: replace an earlier run in ``out_dir``.
        on_epoch: called with each epoch's record (the CLI prints it).

    Raises:
        InputError: an output folder holding another run, a resume checkpoint
            that does not fit the task.
    """
    from tqdm import tqdm

    folder = prepare_output_folder(out_dir, resume_checkpoint is not None, overwrite)
    optimizer = make_optimizer(task.model, options.learning_rate)
    scaler = device.grad_scaler()
    history: list[dict] = []
    best: float | None = None
    start_epoch = 0
    iterations_done = 0
    if resume_checkpoint is not None:
        load_checkpoint(task.model, resume_checkpoint)
        try:
            optimizer.load_state_dict(resume_checkpoint["optimizer"])
        except (KeyError, ValueError) as exc:
            raise InputError(f"the resume checkpoint's optimizer state does not fit this run: {exc}") from None
        if resume_checkpoint.get("grad_scaler") and scaler.is_enabled():
            scaler.load_state_dict(resume_checkpoint["grad_scaler"])
        start_epoch = int(resume_checkpoint["epoch"])
        iterations_done = int(resume_checkpoint.get("iterations", 0))
        history = list(resume_checkpoint.get("history", []))
        best = resume_checkpoint.get("best_mean_dice")
    elif options.initial_weights is not None:
        from spine_rt.train.checkpoints import read_training_checkpoint

        initial = read_training_checkpoint(options.initial_weights, task.recipe)
        try:
            load_checkpoint(task.model, initial)
        except InputError as exc:
            raise InputError(f"initial weights {options.initial_weights} do not fit this network: {exc}") from None
    fields = task.checkpoint_fields()
    _write_json(folder / LABELS_FILE, fields.get("labels", {}))

    validation: ValidationDice | None = None
    epochs_run = 0
    for epoch in range(start_epoch + 1, options.epochs + 1):
        started = time.perf_counter()
        seed = epoch_seed(options.seed, epoch)
        seed_torch(seed)
        task.start_epoch(seed, iterations_done)
        losses: list[float] = []
        parts_sum: dict[str, float] = {}
        bar = tqdm(range(options.iterations), desc=f"{task.recipe} epoch {epoch}/{options.epochs}",
                   disable=not options.progress, file=sys.stderr, leave=False, dynamic_ncols=True)
        for step in bar:
            set_learning_rate(optimizer, scheduled_learning_rate(
                options.learning_rate, options.lr_schedule, iterations_done + step, options.epochs * options.iterations))
            loss, parts = train_step(task, task.sample_batch(), optimizer, scaler, device, options.grad_clip_norm)
            if not math.isfinite(loss):
                raise InputError(f"{task.recipe}: the loss became {loss} at epoch {epoch}; lower the learning rate")
            losses.append(loss)
            for name, value in parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + value
            bar.set_postfix(loss=f"{loss:.4f}")
        bar.close()
        iterations_done += options.iterations
        validation = task.validate()
        record = {
            "epoch": epoch,
            "iterations": iterations_done,
            "loss": sum(losses) / len(losses),
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "loss_parts": {name: total / len(losses) for name, total in parts_sum.items()},
            "learning_rate": optimizer.param_groups[0]["lr"],
            "validation": validation.as_dict(),
            "seconds": round(time.perf_counter() - started, 3),
        }
        history.append(record)
        improved = _is_better(validation.mean, best)
        if improved:
            best = validation.mean
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "recipe": task.recipe,
            "state_dict": {k: v.detach().cpu() for k, v in task.model.state_dict().items()},
            **fields,
            "optimizer": optimizer.state_dict(),
            "grad_scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "epoch": epoch,
            "iterations": iterations_done,
            "seed": options.seed,
            "training": options.describe() | device.describe(),
            "history": history,
            "validation": validation.as_dict(),
            "best_mean_dice": best,
        }
        save_training_checkpoint(folder / LAST_CHECKPOINT, checkpoint)
        if improved or not (folder / BEST_CHECKPOINT).exists():
            save_training_checkpoint(folder / BEST_CHECKPOINT, checkpoint)
        _write_json(folder / TRAINING_LOG, {"recipe": task.recipe, **{k: fields[k] for k in fields if k != "labels"},
                                            "training": checkpoint["training"], "history": history})
        epochs_run += 1
        logger.info("%s epoch %d: loss %.4f, %s", task.recipe, epoch, record["loss"], validation.summary())
        if on_epoch is not None:
            on_epoch(record)
    if resume_checkpoint is not None and epochs_run == 0:
        logger.warning("the resumed run had already reached epoch %d of %d; nothing to do", start_epoch, options.epochs)
    return TrainingResult(folder, folder / LAST_CHECKPOINT, folder / BEST_CHECKPOINT, history, validation, epochs_run)


# -- options -----------------------------------------------------------------------------------------

DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_GRAD_CLIP_NORM = 12.0


@dataclass(frozen=True)
class TrainingOptions:
    """How long and how a recipe trains.

    Attributes:
        epochs: total epochs (a resumed run continues up to this number).
        iterations: optimiser steps per epoch.
        learning_rate: Adam's learning rate (the starting rate with ``lr_schedule="poly"``).
        lr_schedule: ``"constant"`` or ``"poly"`` (nnU-Net's ``(1 - step / total) ** 0.9`` decay over
            ``epochs * iterations`` steps; a resumed run with more epochs stretches the curve).
        grad_clip_norm: the gradients' total 2-norm is clipped to this.
        seed: seeds the weights, the samplers, dropout and the augmentations.
        device: None (CUDA when visible, else CPU), ``"cpu"``, ``"cuda[:N]"``.
        mixed_precision: None (on for CUDA), True (CUDA only), False.
        progress: show tqdm progress bars (on stderr).
        resume: a ``last.pt`` to continue from (weights, optimiser, epoch, history).
        initial_weights: a checkpoint of the same recipe and network whose weights start this
            run (weights only: a new optimiser, epoch 1), e.g. pretraining on phantoms then
            fine-tuning on real scans; ignored with ``resume``.

    Raises:
        InputError: a non-positive count, rate or norm.
    """

    epochs: int = 1
    iterations: int = 100
    learning_rate: float = DEFAULT_LEARNING_RATE
    lr_schedule: str = "constant"
    grad_clip_norm: float = DEFAULT_GRAD_CLIP_NORM
    seed: int = 0
    device: str | None = None
    mixed_precision: bool | None = None
    progress: bool = True
    resume: Path | None = None
    initial_weights: Path | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        for name in ("learning_rate", "grad_clip_norm"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a positive number, got {value!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.resume is not None:
            object.__setattr__(self, "resume", Path(self.resume))
        if self.initial_weights is not None:
            object.__setattr__(self, "initial_weights", Path(self.initial_weights))

    def describe(self) -> dict:
        return {
            "epochs": self.epochs, "iterations": self.iterations, "learning_rate": self.learning_rate,
            "lr_schedule": self.lr_schedule,
            "grad_clip_norm": self.grad_clip_norm, "seed": self.seed, "optimizer": "Adam",
            **({"initial_weights": str(self.initial_weights)} if self.initial_weights is not None else {}),
        }


# -- device and mixed precision ----------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingDevice:
    """The device the networks train on and whether mixed precision is used."""

    device: torch.device
    mixed_precision: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context of a forward pass (float16 autocast on CUDA with mixed precision, else nothing)."""
        if not self.mixed_precision:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.float16)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only with mixed precision."""
        return torch.amp.GradScaler(self.device.type, enabled=self.mixed_precision)

    def describe(self) -> dict:
        return {"device": str(self.device), "mixed_precision": self.mixed_precision}


def resolve_training_device(device: str | None = None, mixed_precision: bool | None = None) -> TrainingDevice:
    """``device``: None (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
    ``mixed_precision``: None (on for CUDA), True or False.

    Raises:
        InputError: an unknown device name, or mixed precision asked on the CPU.
        EnvironmentProblem: CUDA asked but not available.
    """
    if device is None:
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError):
            raise InputError(f"unknown device {device!r}; valid devices: cpu, cuda, cuda:N") from None
        if chosen.type not in ("cpu", "cuda"):
            raise InputError(f"unknown device {device!r}; valid devices: cpu, cuda, cuda:N")
        if chosen.type == "cuda":
            if not torch.cuda.is_available():
                raise EnvironmentProblem(f"device {device!r} asked, but torch sees no CUDA GPU")
            if chosen.index is not None and chosen.index >= torch.cuda.device_count():
                raise EnvironmentProblem(f"device {device!r} asked, but torch sees {torch.cuda.device_count()} GPU(s)")
    if mixed_precision and chosen.type != "cuda":
        raise InputError("mixed precision training needs a CUDA device (training on the CPU runs in float32)")
    use_mixed = chosen.type == "cuda" if mixed_precision is None else bool(mixed_precision)
    return TrainingDevice(chosen, use_mixed)


# -- seeds -------------------------------------------------------------------------------------------

def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded with ``seed`` (independent streams per epoch)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def seed_torch(seed: int) -> None:
    """Seed torch's CPU and CUDA generators."""
    torch.manual_seed(int(seed))
