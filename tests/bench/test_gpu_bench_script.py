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


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_bench_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports nothing heavy at module level
    return module


def test_each_row_is_bounded_by_the_peak_of_its_own_precision():
    """FP32 rows were divided by the FP16 peak, so their fraction of peak came out several times too low."""
    script = _script()
    assert script.peak_kind("fp16", "cuda:0", tf32_convolutions=True) == "float16"
    assert script.peak_kind("fp32", "cuda:0", tf32_convolutions=True) == "tf32"
    assert script.peak_kind("fp32", "cuda:0", tf32_convolutions=False) == "float32"
    assert script.peak_kind("fp16", "cpu", tf32_convolutions=True) == "float32"  # the CPU wiring check runs fp32
    kinds = {key: script.peak_kind(precision, "cuda:0", True) for key, precision in script.ROW_PRECISION.items()}
    assert kinds == {"spine-rt": "float16", "host": "float16", "fp32": "tf32", "reference": "tf32", "monai": "tf32"}
    assert set(kinds.values()) <= set(script.PEAK_KINDS)
