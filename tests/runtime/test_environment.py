from __future__ import annotations

import json
import platform

import numpy as np

import spine_rt
from spine_rt.runtime import gpus
from spine_rt.runtime.environment import describe_environment

KEYS = {
    "python", "platform", "spine_rt", "numpy", "onnxruntime", "onnxruntime_providers", "torch", "torch_cuda",
    "torch_cuda_available", "tensorrt", "cuda_python", "openvino", "cpu", "gpus", "backends", "auto_backend",
    "problems",
}


def test_describes_versions_and_backends():
    info = describe_environment()
    assert set(info) == KEYS
    assert info["python"] == platform.python_version()
    assert info["spine_rt"] == spine_rt.__version__
    assert info["numpy"] == np.__version__
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert "onnxruntime on cpu" in info["backends"]
    assert info["auto_backend"]["reason"]
    assert info["cpu"]["model"] and set(info["cpu"]) >= {"avx512", "avx512_bf16", "amx", "native_bf16"}
    assert info["problems"] == []
    json.dumps(info)  # plain JSON types only


def test_never_raises(monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(gpus, "visible_gpus", broken)
    info = describe_environment()
    assert info["gpus"] is None
    assert "GPUs: RuntimeError: driver exploded" in info["problems"]
