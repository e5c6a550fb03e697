"""How many windows a batch may hold: no more than the work there is, and no more than memory holds.

A batch larger than the windows to run only pads (the last batch repeats
its last window), so it is clamped to the work; a batch whose inputs and
outputs cannot fit in the memory available now is refused with one line
that says the largest batch that would.
"""

from __future__ import annotations

import math
from pathlib import Path

from spine_rt.errors import InputError

#: batches alive at once in the overlapped host schedule: two feeds building/queued and one output blending
BATCHES_IN_FLIGHT = 3
MEMINFO = Path("/proc/meminfo")


def available_memory_bytes() -> int | None:
    """The memory the kernel says is available now (``MemAvailable``), or None where unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def fit_batch(requested: int, windows: int, bytes_per_window: int, what: str = "batch") -> int:
    """``min(requested, windows)`` (at least 1); refuse it when its memory exceeds what is available.

    Args:
        requested: windows per call asked for.
        windows: windows there are to run.
        bytes_per_window: host bytes one window's inputs and outputs take.
        what: the option's name for the message (``--batch``).

    Raises:
        InputError: the clamped batch needs more memory than is available (the message names both
            figures and the largest batch that fits).
    """
    batch = max(1, min(int(requested), int(windows)))
    available = available_memory_bytes()
    need = batch * bytes_per_window * BATCHES_IN_FLIGHT
    if available is not None and need > available:
        largest = max(1, available // max(1, bytes_per_window * BATCHES_IN_FLIGHT))
        raise InputError(f"{what} {requested}: {batch} windows at once need about {need / 2**30:.1f} GiB, "
                         f"{available / 2**30:.1f} GiB is available; use {what} {largest} or less")
    return batch


def window_bytes(channels: int, patch: tuple[int, ...], itemsize: int = 4) -> int:
    """Bytes of ``channels`` float arrays over one ``patch``."""
    return channels * math.prod(patch) * itemsize
