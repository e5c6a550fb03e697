"""Stopwatches for benchmarks: ``time.perf_counter`` on the CPU, CUDA events on a GPU.

Never ``time.time`` (wall clock, adjusted by NTP). A stopwatch times one
interval at a time::

    watch = stopwatch_for("cuda:0")
    watch.start(); run(); seconds = watch.stop()

:class:`CudaEventStopwatch` records a ``torch.cuda.Event`` at ``start`` and
``stop`` on the current stream and waits for the second one, so the interval
covers the GPU work queued in between even when the host returns early.
torch is imported only when a CUDA stopwatch is made.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from spine_rt.errors import EnvironmentProblem


class Stopwatch(Protocol):
    """Times one interval at a time (seconds)."""

    kind: str

    def start(self) -> None:
        """Begin an interval."""

    def stop(self) -> float:
        """End the interval; returns its length (s)."""


class CpuStopwatch:
    """``time.perf_counter`` intervals (s)."""

    kind = "perf_counter"

    def __init__(self) -> None:
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> float:
        if self._started is None:
            raise RuntimeError("stopwatch stopped before it was started")
        seconds = time.perf_counter() - self._started
        self._started = None
        return seconds


class CudaEventStopwatch:
    """CUDA event intervals on the current stream of ``device`` (s).

    Raises:
        EnvironmentProblem: torch is missing or sees no CUDA device.
    """

    kind = "cuda_events"

    def __init__(self, device: str = "cuda") -> None:
        try:
            import torch
        except ImportError:
            raise EnvironmentProblem("CUDA event timing needs torch with CUDA; pip install torch") from None
        if not torch.cuda.is_available():
            raise EnvironmentProblem(f"CUDA event timing on {device}: torch sees no CUDA device")
        self._torch = torch
        self._device = torch.device(device)
        self._begin: Any = None

    def start(self) -> None:
        torch = self._torch
        with torch.cuda.device(self._device):
            self._begin = torch.cuda.Event(enable_timing=True)
            self._begin.record()

    def stop(self) -> float:
        if self._begin is None:
            raise RuntimeError("stopwatch stopped before it was started")
        torch = self._torch
        with torch.cuda.device(self._device):
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            end.synchronize()
        milliseconds = self._begin.elapsed_time(end)
        self._begin = None
        return milliseconds / 1000.0


def stopwatch_for(device: str) -> Stopwatch:
    """CUDA events on a ``cuda`` device, ``perf_counter`` elsewhere."""
    if device.startswith("cuda"):
        return CudaEventStopwatch(device)
    return CpuStopwatch()
