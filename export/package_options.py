"""Options shared by ``export_package`` and ``package_onnx``: precisions and labels (no torch needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from spine_rt.anatomy.label_maps import parse_labels, read_labels
from spine_rt.errors import InputError
from spine_rt.export.model_families import ModelFamily
from spine_rt.model_package import PRECISIONS

DEFAULT_PRECISIONS: tuple[str, ...] = ("fp32", "fp16")

#: ``labels=``: ``{id: name}``, a list of names, a ``labels.json`` path, or ``None`` (the model's default)
LabelsArgument = Mapping[Any, str] | Sequence[str] | str | os.PathLike[str] | None


def resolve_precisions(precisions: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"fp32,fp16"`` / ``["fp16"]`` / ``None`` -> precisions in :data:`PRECISIONS` order, ``fp32`` always included.

    Raises:
        InputError: an unknown precision (lists the valid ones).
    """
    if precisions is None:
        return DEFAULT_PRECISIONS
    items = precisions.split(",") if isinstance(precisions, str) else list(precisions)
    wanted = {item.strip().lower() for item in items if item.strip()}
    unknown = sorted(wanted - set(PRECISIONS))
    if unknown:
        raise InputError(f"unknown precision {', '.join(unknown)}; valid precisions: {', '.join(PRECISIONS)}")
    return tuple(p for p in PRECISIONS if p in wanted | {"fp32"})


def resolve_labels(family: ModelFamily, labels: LabelsArgument) -> dict[int, str]:
    """The family's default labels, a ``labels.json`` path, or a mapping/list (validated)."""
    if labels is None:
        return dict(family.default_labels)
    if isinstance(labels, (str, os.PathLike)):
        return read_labels(labels)
    return parse_labels(dict(labels) if isinstance(labels, Mapping) else list(labels), source="labels")
