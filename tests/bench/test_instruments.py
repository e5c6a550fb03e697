"""Host peak memory readings (Linux /proc) and the GPU counter's CPU behaviour."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spine_rt.bench.instruments import (
    current_host_memory_bytes,
    peak_gpu_memory_bytes,
    peak_host_memory_bytes,
    reset_peak_host_memory,
)


def test_peak_is_at_least_the_current_resident_memory():
    current = current_host_memory_bytes()
    peak = peak_host_memory_bytes()
    assert peak > 0
    if current is not None:
        assert peak >= current


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/clear_refs is Linux only")
def test_reset_lowers_the_mark_after_a_large_temporary():
    block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
    block += 1
    del block
    high = peak_host_memory_bytes()
    if not reset_peak_host_memory():
        pytest.skip("this kernel does not allow resetting the high-water mark")
    assert peak_host_memory_bytes() < high


def test_no_gpu_figure_on_the_cpu():
    assert peak_gpu_memory_bytes("cpu") is None
