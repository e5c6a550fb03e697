"""What a spine-rt training checkpoint says about deployment: labels, preset, grid, patch, value scaling.

``spine-rt train`` writes checkpoints that carry, besides the weights, the
network configuration, the label map and the preprocessing the network was
trained with (axes, spacings, intensity), the spatial size of what the
network saw per sample (stage one's crop ``settings.crop_size``, stage two's
patch ``config.overrides.patch_size``, MBNet's ``image_size``), and for
MBNet the min-max scaling of the 18 values (see
:mod:`spine_rt.train.checkpoints`). The exporter makes these the package's
defaults, so a package runs exactly the grid and window sizes its networks
learned and validated with. A bare ``state_dict`` (or ``{"state_dict": ...}``
without these fields) carries nothing and the family's defaults apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spine_rt.errors import InputError


@dataclass(frozen=True)
class TrainingMetadata:
    """The deployment facts of one training checkpoint (``None`` where it says nothing)."""

    source: Path
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    labels: dict[int, str] | None = None
    preprocessing: dict[str, Any] | None = None
    value_scaling: dict[str, Any] | None = None
    patch_size: tuple[int, ...] | None = None


def read_training_metadata(path: Path) -> TrainingMetadata:
    """Read the deployment fields of the checkpoint at ``path`` (weights are not kept).

    Raises:
        InputError: the file is not a torch checkpoint.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not a checkpoint
        raise InputError(f"{path}: not a readable torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(checkpoint, Mapping):
        return TrainingMetadata(source=path)
    config = checkpoint.get("config") if isinstance(checkpoint.get("config"), Mapping) else {}
    labels = checkpoint.get("labels")
    return TrainingMetadata(
        source=path,
        preset=config.get("preset"),
        overrides=dict(config.get("overrides") or {}),
        labels={int(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else None,
        preprocessing=dict(checkpoint["preprocessing"]) if isinstance(checkpoint.get("preprocessing"), Mapping) else None,
        value_scaling=dict(checkpoint["value_scaling"]) if isinstance(checkpoint.get("value_scaling"), Mapping) else None,
        patch_size=trained_patch_size(checkpoint),
    )


def trained_patch_size(checkpoint: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The spatial size of one training sample of a spine-rt checkpoint, or ``None`` when it does not say.

    ``stage1``: the crop ``(X, Y)`` on stage one's grid (``settings.crop_size``);
    ``stage2``: the patch ``(X, Y, Z)`` (``config.overrides.patch_size``);
    ``mbnet``: the image size ``(H, W)`` (``config.overrides.image_size``).
    """
    settings = checkpoint.get("settings") if isinstance(checkpoint.get("settings"), Mapping) else {}
    config = checkpoint.get("config") if isinstance(checkpoint.get("config"), Mapping) else {}
    overrides = config.get("overrides") if isinstance(config.get("overrides"), Mapping) else {}
    value = {"stage1": settings.get("crop_size"), "stage2": overrides.get("patch_size"),
             "mbnet": overrides.get("image_size")}.get(str(checkpoint.get("recipe")))
    if not isinstance(value, (list, tuple)) or not value:
        return None
    try:
        return tuple(int(size) for size in value)
    except (TypeError, ValueError):
        return None


def agreed(records: Iterable[TrainingMetadata], name: str) -> Any:
    """The value of field ``name`` shared by every checkpoint that has it, or ``None`` when none has it.

    Raises:
        InputError: two checkpoints disagree (names both files), e.g. folds
            trained on different grids cannot share one package.
    """
    found: tuple[Path, Any] | None = None
    for record in records:
        value = getattr(record, name)
        if value is None:
            continue
        if found is not None and found[1] != value:
            raise InputError(f"checkpoints disagree on {name}: {found[0]} has {found[1]!r}, {record.source} has {value!r}")
        found = (record.source, value)
    return None if found is None else found[1]
