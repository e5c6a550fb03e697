"""Device strings: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, validated in one place.

Every runner and the backend selection accept the same spellings; ``"cuda"``
means ``"cuda:0"``. Anything else (``"gpu0"``, ``"cuda:-1"``, ``"CUDA:0"``) is
an :class:`~spine_rt.errors.InputError` that lists the valid spellings.
"""

from __future__ import annotations

import re

from spine_rt.errors import InputError

#: What a device string may look like, for error messages.
VALID_DEVICES = "cpu, cuda, cuda:N (N = 0, 1, ...)"

_CUDA_DEVICE = re.compile(r"cuda(?::(\d+))?")


def normalize_device(device: str) -> str:
    """The canonical form of ``device``: ``"cpu"`` or ``"cuda:N"``.

    Raises:
        InputError: ``device`` is not a string of the form ``cpu``, ``cuda`` or ``cuda:N``.
    """
    if not isinstance(device, str):
        raise InputError(f"device must be a string ({VALID_DEVICES}), got {type(device).__name__}")
    text = device.strip()
    if text == "cpu":
        return "cpu"
    match = _CUDA_DEVICE.fullmatch(text)
    if match is None:
        raise InputError(f"invalid device {device!r}; valid devices: {VALID_DEVICES}")
    return f"cuda:{int(match.group(1) or 0)}"


def cuda_index(device: str) -> int | None:
    """The CUDA ordinal of a device string (``"cuda" -> 0``), or ``None`` for ``"cpu"``.

    Raises:
        InputError: ``device`` is not a valid device string.
    """
    canonical = normalize_device(device)
    return None if canonical == "cpu" else int(canonical.split(":")[1])
