"""The benchmark's instruments: stopwatches, peak memory and the CPU's matrix-product peak.

**Stopwatches**: ``time.perf_counter`` on the CPU, CUDA events on a GPU; never
``time.time`` (wall clock, adjusted by NTP). A stopwatch times one interval at
a time::

    watch = stopwatch_for("cuda:0")
    watch.start(); run(); seconds = watch.stop()

:class:`CudaEventStopwatch` records a ``torch.cuda.Event`` at ``start`` and
``stop`` on the current stream and waits for the second one, so the interval
covers the GPU work queued in between even when the host returns early.
torch is imported only when a CUDA stopwatch is made.

**Peak memory** of this process: host RSS high-water mark and torch's CUDA allocator peak.

* Host: ``VmHWM`` of ``/proc/self/status`` (Linux), the most resident memory
  the process has held since it started **or since the last reset**: writing
  ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0) sets the mark back to the
  current RSS, so several configurations can be measured in one process.
  Where that is impossible, :func:`reset_peak_host_memory` returns ``False``
  and the peak stays cumulative (``ru_maxrss`` of ``resource.getrusage`` is
  the fallback reading, never reset).
* GPU: ``torch.cuda.max_memory_allocated`` (bytes in tensors allocated by
  torch; memory that onnxruntime or TensorRT allocate themselves is not in
  it), reset with ``torch.cuda.reset_peak_memory_stats``.

**This CPU's attainable peak**, measured: GFLOP/s of a large matrix product in
FP32 and BF16. A benchmark reports the GFLOP/s a network achieved as a fraction of this
figure, measured in the same run (a shared machine's load moves both alike).
The product is ``torch.mm`` of two ``n x n`` matrices (oneDNN/MKL: AVX-512
FMA in FP32; AVX512_BF16 or AMX tiles in BF16), timed in CPU seconds
(``time.process_time``: the process's threads together, so other processes
on a busy machine do not count), best of ``repeat``. FLOPs = ``2 n^3``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
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


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    except OSError:
        return None
    return None


def peak_host_memory_bytes() -> int:
    """The resident-set high-water mark of this process (bytes)."""
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource

    maximum = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maximum) if sys.platform == "darwin" else int(maximum) * 1024  # bytes on macOS, kB on Linux


def current_host_memory_bytes() -> int | None:
    """Resident memory now (bytes), or ``None`` where ``/proc`` cannot tell."""
    return _status_bytes("VmRSS")


def reset_peak_host_memory() -> bool:
    """Set the high-water mark back to the current RSS; ``False`` where the system does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_gpu_memory_bytes(device: str) -> int | None:
    """torch's peak allocated CUDA memory on ``device`` (bytes); ``None`` on the CPU or without torch."""
    if not device.startswith("cuda") or "torch" not in sys.modules:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return int(torch.cuda.max_memory_allocated(torch.device(device)))


def reset_peak_gpu_memory(device: str) -> None:
    """Reset torch's CUDA peak statistics on ``device`` (nothing on the CPU)."""
    if not device.startswith("cuda") or "torch" not in sys.modules:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(torch.device(device))


#: matrix size: large enough for the library's best kernel, small enough to take ~0.1 s
DEFAULT_SIZE = 2048
DEFAULT_REPEAT = 5


@dataclass(frozen=True)
class MatmulPeak:
    """Measured matrix-product rate.

    Attributes:
        dtype: ``"fp32"`` or ``"bf16"``.
        threads: torch intra-op threads during the measurement.
        size: ``n`` of the ``n x n`` matrices.
        gflops_per_cpu_second: best ``2 n^3 / CPU seconds / 1e9`` over the repeats
            (per CPU second: a per-core figure regardless of ``threads``).
        gflops_per_second: the same repeat's ``2 n^3 / wall seconds / 1e9``.
    """

    dtype: str
    threads: int
    size: int
    gflops_per_cpu_second: float
    gflops_per_second: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure_matmul_peak(dtype: str = "fp32", threads: int = 1, size: int = DEFAULT_SIZE,
                        repeat: int = DEFAULT_REPEAT) -> MatmulPeak:
    """Best rate of ``torch.mm`` at ``dtype`` on ``threads`` threads (torch's thread count is restored).

    Raises:
        ValueError: unknown dtype, ``size`` or ``repeat`` < 1.
        EnvironmentProblem: torch is not installed.
    """
    from spine_rt.dependencies import require

    torch = require("torch", "measuring the CPU's matrix-product peak")
    kinds = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if dtype not in kinds or size < 1 or repeat < 1:
        raise ValueError(f"dtype must be one of {', '.join(kinds)} and size, repeat >= 1")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator).to(kinds[dtype])
        b = torch.randn(size, size, generator=generator).to(kinds[dtype])
        flops = 2.0 * size ** 3
        torch.mm(a, b)  # warm-up: library initialisation, kernel choice
        best_cpu, best_wall = float("inf"), float("inf")
        for _ in range(repeat):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            torch.mm(a, b)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            if cpu < best_cpu:
                best_cpu, best_wall = cpu, wall
    finally:
        torch.set_num_threads(previous)
    return MatmulPeak(dtype, threads, size, flops / max(best_cpu, 1e-9) / 1e9, flops / max(best_wall, 1e-9) / 1e9)
