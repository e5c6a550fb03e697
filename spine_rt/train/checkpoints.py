"""Training checkpoints: what they hold, writing them atomically, reading them back.

A checkpoint is a plain dict (loadable with ``torch.load(weights_only=True)``)::

    {
      "format": "spine-rt training checkpoint", "format_version": 1,
      "recipe": "stage1" | "stage2" | "mbnet",
      "state_dict": {...},                  # the trained network only
      "config": {"network": "stage1_pair", "preset": "tiny", "overrides": {"num_classes": 6}},
      "optimizer": {...}, "grad_scaler": {...},
      "epoch": 3, "iterations": 300, "seed": 0,
      "labels": {"0": "background", "1": "L1", ...},
      "history": [...], "validation": {...}, "best_mean_dice": 0.81,
      "settings": {...}, "data": {...},     # the recipe's options and the scans used
      "preprocessing": {...},               # MR: axes, spacings, intensity (the manifest's schema)
      "value_scaling": {...},               # MBNet: min-max scaling of the 18 values
      "stage_one": {...},                   # stage two: the frozen stage one's file and sha256
    }

:func:`spine_rt.models.checkpoint.load_checkpoint` and the exporter read
the ``state_dict`` entry; :func:`network_from_checkpoint` rebuilds the
network from ``config`` and loads it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spine_rt.errors import InputError
from spine_rt.models import build
from spine_rt.models.checkpoint import load_checkpoint

CHECKPOINT_FORMAT = "spine-rt training checkpoint"
CHECKPOINT_VERSION = 1
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


def network_config(network: str, preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config`` entry: enough to call ``build(network, preset, **overrides)``."""
    plain = {key: (list(value) if isinstance(value, tuple) else value) for key, value in overrides.items()}
    return {"network": network, "preset": preset, "overrides": plain}


def build_from_config(config: Mapping[str, Any]) -> nn.Module:
    """``build(config["network"], config["preset"], **config["overrides"])`` (untrained).

    Raises:
        InputError: a malformed config, unknown network, preset or field.
    """
    try:
        return build(str(config["network"]), str(config["preset"]), **dict(config.get("overrides", {})))
    except (KeyError, TypeError) as exc:
        raise InputError(f"checkpoint config is malformed ({exc}); expected network, preset, overrides") from None


def save_training_checkpoint(path: str | os.PathLike[str], checkpoint: Mapping[str, Any]) -> Path:
    """Write ``checkpoint`` with ``torch.save`` and publish it as ``path`` (:func:`spine_rt.atomic_write.write_file_atomic`)."""
    from spine_rt.atomic_write import write_file_atomic

    return write_file_atomic(path, lambda temporary: torch.save(dict(checkpoint), temporary))


def read_training_checkpoint(path: str | os.PathLike[str], recipe: str | None = None) -> dict[str, Any]:
    """Load a training checkpoint (``weights_only``) and check it is one of ``recipe``.

    Raises:
        InputError: missing or unreadable file, not a spine-rt training
            checkpoint, or one of another recipe.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"checkpoint not found: {file}")
    try:
        checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling fails in many ways; all mean "not a readable checkpoint"
        raise InputError(f"cannot read checkpoint {file}: not a torch checkpoint "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{file} is not a spine-rt training checkpoint (written by spine-rt train)")
    if recipe is not None and checkpoint.get("recipe") != recipe:
        raise InputError(f"{file} is a {checkpoint.get('recipe')} checkpoint; a {recipe} checkpoint is needed here")
    return checkpoint


def network_from_checkpoint(checkpoint: Mapping[str, Any] | str | os.PathLike[str]) -> nn.Module:
    """The trained network of a training checkpoint (a path or the loaded dict), on the CPU.

    Raises:
        InputError: see :func:`read_training_checkpoint` and :func:`load_checkpoint`.
    """
    loaded = checkpoint if isinstance(checkpoint, Mapping) else read_training_checkpoint(checkpoint)
    return load_checkpoint(build_from_config(loaded["config"]), loaded)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
