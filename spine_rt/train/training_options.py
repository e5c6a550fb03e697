"""The options every recipe shares: schedule, optimiser, seed, device, resume.

Defaults follow SEEDS.md: Adam with learning rate 1e-3 and gradient-norm
clipping at 12. An epoch is ``iterations`` optimiser steps followed by a
validation pass and a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from spine_rt.errors import InputError

DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_GRAD_CLIP_NORM = 12.0


@dataclass(frozen=True)
class TrainingOptions:
    """How long and how a recipe trains.

    Attributes:
        epochs: total epochs (a resumed run continues up to this number).
        iterations: optimiser steps per epoch.
        learning_rate: Adam's learning rate.
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.resume is not None:
            object.__setattr__(self, "resume", Path(self.resume))
        if self.initial_weights is not None:
            object.__setattr__(self, "initial_weights", Path(self.initial_weights))

    def describe(self) -> dict:
        return {
            "epochs": self.epochs, "iterations": self.iterations, "learning_rate": self.learning_rate,
            "grad_clip_norm": self.grad_clip_norm, "seed": self.seed, "optimizer": "Adam",
            **({"initial_weights": str(self.initial_weights)} if self.initial_weights is not None else {}),
        }
