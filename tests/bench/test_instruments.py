"""Host peak memory readings (Linux /proc) and the GPU counter's CPU behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spine_rt.bench.instruments import (
    current_host_memory_bytes,
    peak_gpu_memory_bytes,
    peak_host_memory_bytes,
)


def test_peak_is_at_least_the_current_resident_memory():
    current = current_host_memory_bytes()
    peak = peak_host_memory_bytes()
    assert peak > 0
    if current is not None:
        assert peak >= current


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/clear_refs is Linux only")
def test_reset_lowers_the_mark_after_a_large_temporary():
    # in a fresh interpreter: in this long-lived test process the mark may already sit far above
    # anything one temporary adds, and freed heap may be reused without new pages
    script = (
        "import numpy as np\n"
        "from spine_rt.bench.instruments import peak_host_memory_bytes, reset_peak_host_memory\n"
        "block = np.ones(256 * 1024 * 1024 // 8)\n"  # 256 MiB, touched
        "block += 1\n"
        "del block\n"
        "high = peak_host_memory_bytes()\n"
        "print('skip' if not reset_peak_host_memory() else f'{high} {peak_host_memory_bytes()}')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    if out == ["skip"]:
        pytest.skip("this kernel does not allow resetting the high-water mark")
    high, after = (int(v) for v in out)
    assert after < high - 128 * 1024 * 1024


def test_no_gpu_figure_on_the_cpu():
    assert peak_gpu_memory_bytes("cpu") is None
