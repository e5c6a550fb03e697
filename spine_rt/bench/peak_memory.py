"""Peak memory of this process: host RSS high-water mark and torch's CUDA allocator peak.

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
"""

from __future__ import annotations

import sys
from pathlib import Path

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
