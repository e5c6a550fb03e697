"""``import spine_rt.runtime`` (and reaching its runner classes) imports neither torch nor onnxruntime."""

from __future__ import annotations

import subprocess
import sys

import pytest

import spine_rt.runtime


def run_python(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_import_does_not_import_torch_or_onnxruntime():
    run_python(
        "import sys, spine_rt.runtime as rt\n"
        "rt.TorchRunner, rt.OnnxRuntimeRunner, rt.Runner, rt.TensorSpec, rt.select_backend, rt.describe_environment\n"
        "rt.OpenVINORunner, rt.CpuCapabilities\n"
        "heavy = sorted(m for m in ('torch', 'onnxruntime', 'tensorrt', 'cuda', 'openvino') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )


def test_every_public_name_resolves():
    for name in spine_rt.runtime.__all__:
        assert getattr(spine_rt.runtime, name) is not None
    assert set(spine_rt.runtime.__all__) <= set(dir(spine_rt.runtime))


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        spine_rt.runtime.Nope
