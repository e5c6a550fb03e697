"""``benchmarks/gpu_bench.py`` exits 3 with a one-line reason where torch sees no CUDA device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


@pytest.mark.torch
def test_exits_3_without_cuda(tmp_path):
    pytest.importorskip("monai")
    environment = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # hides any GPU from torch
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0]
    assert not out.exists()


def test_bad_arguments_exit_2():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2  # --json is required (argparse)
