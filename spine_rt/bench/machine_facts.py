"""The machine a benchmark ran on: CPU model, cores, load, threads (figures mean little without them)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Logical CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """1, 5 and 15 minute load averages, or ``None`` where the system does not tell."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def torch_threads() -> int | None:
    """torch's intra-op thread count when torch has been imported, else ``None``."""
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


def machine_facts() -> dict[str, Any]:
    """CPU model, usable and total logical CPUs, load averages and torch threads, now."""
    return {
        "cpu_model": cpu_model(),
        "usable_cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "load_average_1_5_15_min": load_average(),
        "torch_threads": torch_threads(),
    }
