"""Where training runs: the device, and mixed precision (autocast + gradient scaling) on CUDA.

On CUDA, mixed precision is on by default: the forward pass runs under
``torch.autocast`` in float16 and the loss is scaled by a
``torch.amp.GradScaler`` (the gradients are unscaled before clipping). On
the CPU training runs in float32 (mixed precision there is refused: the
recipes are tested and tuned in float32).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from spine_rt.errors import EnvironmentProblem, InputError


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
