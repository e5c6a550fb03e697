"""Label maps of the served tasks, and reading a user's ``labels.json``.

A label map is ``{class id: structure name}`` with ids ``0 .. K-1`` (0 is
background); ``K`` is the network's ``num_classes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError

#: MRSpineSeg (SEEDS.md): 10 vertebrae then 9 discs, caudal to cranial.
MR_SPINE_LABELS: dict[int, str] = {
    0: "background",
    1: "S", 2: "L5", 3: "L4", 4: "L3", 5: "L2", 6: "L1", 7: "T12", 8: "T11", 9: "T10", 10: "T9",
    11: "L5/S", 12: "L4/L5", 13: "L3/L4", 14: "L2/L3", 15: "L1/L2", 16: "T12/L1", 17: "T11/T12",
    18: "T10/T11", 19: "T9/T10",
}

#: Lumbar X-ray classes of MBNet/BiLuNet (SEEDS.md).
XRAY_LABELS: dict[int, str] = {
    0: "background",
    1: "vertebra",
    2: "sacrum",
    3: "femoral head 1",
    4: "femoral head 2",
}


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
