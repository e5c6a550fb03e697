"""Training checkpoints: what they hold, writing and reading them, and scoring two trained stages on held-out scans.

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

**Held-out evaluation.** Dice of trained stages on held-out scans, through the exported package (the
product path).

:func:`evaluate_two_stage` exports the two training checkpoints exactly as
the documented ``spine-rt export sshsnet --checkpoint stage1=S1.pt
--checkpoint stage2=S2.pt --out PKG`` does (no extra option: the grid,
window sizes, labels and normalisation come from the checkpoints), then
scores the package with :func:`spine_rt.evaluation.evaluate_folder`, which
runs :func:`spine_rt.load_pipeline` on every scan as ``spine-rt infer`` and
``spine-rt evaluate`` do. What the recipe reports is therefore what a user
of the package measures; there is no second implementation to drift.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spine_rt.errors import InputError
from spine_rt.models import build
from spine_rt.models.checkpoint import load_checkpoint

if TYPE_CHECKING:  # the run path's evaluation is loaded when a held-out evaluation runs
    from spine_rt.evaluation import EvaluationReport


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


# -- held-out evaluation -----------------------------------------------------------------------------

def export_two_stage(stage_one_checkpoint: str | os.PathLike[str], stage_two_checkpoint: str | os.PathLike[str],
                     out: str | os.PathLike[str], *, precisions: str = "fp32", overwrite: bool = False) -> Path:
    """``spine-rt export sshsnet`` of the two checkpoints with no extra option; returns the package folder.

    Raises:
        InputError: unreadable or mismatched checkpoints, an existing ``out``.
        ParityError: a graph differs from torch beyond the export's tolerance.
    """
    from spine_rt.export import export_package

    package = export_package("sshsnet", out, {"stage1": stage_one_checkpoint, "stage2": stage_two_checkpoint},
                             precisions=precisions, overwrite=overwrite)
    return package.root


def evaluate_two_stage(
    stage_one_checkpoint: str | os.PathLike[str],
    stage_two_checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    package: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    **pipeline_options: Any,
) -> EvaluationReport:
    """Export both checkpoints, then segment every image of ``data`` with the package and score it.

    Args:
        stage_one_checkpoint / stage_two_checkpoint: training checkpoints (``best.pt``).
        data: folder of held-out ``NAME_image`` / ``NAME_label`` pairs.
        package: where to keep the exported package (default: a temporary folder, removed after).
        labels: the folder of the truth label maps when not ``data``.
        pipeline_options: options of :func:`spine_rt.load_pipeline` (``backend``, ``device``, ``tta``, ...).

    Returns:
        The :class:`~spine_rt.evaluation.EvaluationReport` (``.summary()``, ``.per_case``, ``.as_dict()``).

    Raises:
        InputError: unreadable checkpoints or scans, labels outside the label map.
    """
    from spine_rt.evaluation import evaluate_folder

    if package is not None:
        root = export_two_stage(stage_one_checkpoint, stage_two_checkpoint, package)
        return evaluate_folder(root, data, labels or data, **pipeline_options)
    with tempfile.TemporaryDirectory(prefix="spine-rt-held-out-") as folder:
        root = export_two_stage(stage_one_checkpoint, stage_two_checkpoint, Path(folder) / "package")
        return evaluate_folder(root, data, labels or data, **pipeline_options)
