"""The label-map format ``{class id: structure name}``: reading, checking, matching by name.

A label map has ids ``0 .. K-1`` (0 is background); ``K`` is the network's
``num_classes``. It is given as ``{"0": "background", "1": "L1", ...}`` or
a list of names (a user's ``labels.json``, the exporter's ``--labels``, a
checkpoint's stored map), so training on vertebral bodies L1-L5 only is a
``labels.json`` with six entries. The tables of the served tasks are in
:mod:`spine_rt.anatomy.label_tables`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import InputError


def parse_labels(data: Any, source: str = "labels") -> dict[int, str]:
    """Validate a label map given as ``{"0": "background", ...}`` or ``["background", ...]``.

    Returns:
        ``{id: name}`` sorted by id.

    Raises:
        InputError: not a mapping or list, fewer than 2 classes, ids that are
            not the integers ``0 .. K-1``, or empty/non-string names.
    """
    if isinstance(data, list):
        items = list(enumerate(data))
    elif isinstance(data, dict):
        items = []
        for key, name in data.items():
            try:
                items.append((int(key), name))
            except (TypeError, ValueError):
                raise InputError(f"{source}: label id {key!r} is not an integer") from None
    else:
        raise InputError(f"{source}: labels must be a JSON object {{id: name}} or a list of names, "
                         f"got {type(data).__name__}")
    labels = dict(sorted(items))
    if len(labels) != len(items):
        raise InputError(f"{source}: a label id appears twice")
    if len(labels) < 2:
        raise InputError(f"{source}: at least 2 classes (background and one structure) are needed, got {len(labels)}")
    if list(labels) != list(range(len(labels))):
        raise InputError(f"{source}: label ids must be 0 .. {len(labels) - 1} without gaps, got {sorted(labels)}")
    for label_id, name in labels.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{source}: label {label_id} needs a non-empty name, got {name!r}")
    return labels


def read_labels(path: str | Path) -> dict[int, str]:
    """Read and validate a ``labels.json`` file (see :func:`parse_labels`).

    Raises:
        InputError: missing file, invalid JSON, or an invalid label map.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(f"labels file not found: {file}")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: not valid JSON ({exc})") from None
    return parse_labels(data, source=str(file))


def load_label_map(path: str | Path | None, default: Mapping[int, str]) -> dict[int, str]:
    """The label map of ``path`` (a ``labels.json``), or ``default`` when ``path`` is None.

    Raises:
        InputError: missing file, invalid JSON, ids that are not ``0 .. K-1``
            or empty names (one line).
    """
    if path is None:
        return parse_labels({str(k): v for k, v in default.items()}, source="default labels")
    return read_labels(path)


def label_map_from_checkpoint(stored: Mapping[str, str] | Mapping[int, str]) -> dict[int, str]:
    """The ``{id: name}`` map stored in a checkpoint (JSON-style string keys accepted).

    Raises:
        InputError: the stored map is not a valid label map.
    """
    return parse_labels({str(k): v for k, v in stored.items()}, source="checkpoint labels")


def label_map_to_json(label_map: Mapping[int, str]) -> dict[str, str]:
    """``{id: name}`` with string keys, as written to ``labels.json`` and stored in checkpoints."""
    return {str(int(k)): str(v) for k, v in sorted(label_map.items())}


def check_label_ids(labels: np.ndarray, label_map: Mapping[int, str], where: str) -> None:
    """Raise unless every voxel of ``labels`` holds an id of ``label_map``.

    Args:
        labels: an integer label array of any shape.
        label_map: ``{id: name}`` with ids ``0 .. K-1``.
        where: the file the labels came from (for the message).

    Raises:
        InputError: non-integer labels, or ids outside the label map (the
            message lists the offending ids and the valid range).
    """
    array = np.asarray(labels)
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise InputError(f"{where}: labels must be integers, got dtype {array.dtype} with fractional values")
    present = np.unique(array).astype(np.int64)
    unknown = [int(v) for v in present if int(v) not in label_map]
    if unknown:
        shown = ", ".join(str(v) for v in unknown[:8]) + (", ..." if len(unknown) > 8 else "")
        raise InputError(
            f"{where}: label ids {shown} are not in the label map (ids 0..{max(label_map)}); "
            f"give a labels.json that names them"
        )


def lookup_by_name(source: Mapping[int, str], target: Mapping[int, str]) -> np.ndarray:
    """A lookup table ``table[source_id] = target_id`` matching structures by name (case-insensitive).

    Structures of ``source`` that ``target`` does not name map to 0
    (background). Used to train on phantoms, whose labels are named
    MRSpineSeg structures, with a user's label set (e.g. L1..L5 only).

    Raises:
        InputError: no structure of ``target`` (other than background) appears in ``source``.
    """
    by_name = {name.strip().lower(): int(k) for k, name in target.items()}
    table = np.zeros(max(source) + 1, np.uint8 if max(target) < 256 else np.uint16)
    matched = 0
    for source_id, name in source.items():
        target_id = by_name.get(name.strip().lower(), 0)
        table[source_id] = target_id
        matched += target_id != 0
    if matched == 0:
        raise InputError(
            f"none of the labels {', '.join(n for k, n in target.items() if k)} names a phantom structure "
            f"({', '.join(n for k, n in source.items() if k)})"
        )
    return table
