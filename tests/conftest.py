"""Shared test configuration: markers that skip visibly, and the shared data path.

* ``gpu``: runs only where torch sees a CUDA GPU; reported as skipped elsewhere.
* ``tensorrt``: runs only where the ``tensorrt`` module imports.
* ``torch``: runs only where torch is installed (the base install has none).
* ``openvino``: runs only where the ``openvino`` module imports.

Tests that need the real scans use the ``shared_data`` fixture, which skips
when ``../shared/data`` is absent.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPINE_RT_SHARED_DATA", REPO.parent / "shared" / "data"))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda_visible() -> bool:
    if not _has("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    has_torch = _has("torch")
    has_trt = _has("tensorrt")
    has_openvino = _has("openvino")
    has_gpu = None  # computed lazily: importing torch costs a second
    for item in items:
        if item.get_closest_marker("torch") and not has_torch:
            item.add_marker(pytest.mark.skip(reason="torch is not installed"))
        if item.get_closest_marker("openvino") and not has_openvino:
            item.add_marker(pytest.mark.skip(reason="openvino is not installed (pip install openvino)"))
        if item.get_closest_marker("tensorrt") and not has_trt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed on this machine"))
        if item.get_closest_marker("gpu"):
            if has_gpu is None:
                has_gpu = _cuda_visible()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU visible"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real scans of ../shared/data; skips the test when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scans not found at {SHARED_DATA}")
    return SHARED_DATA


#: stage-one window (S-I, A-P) and stage-two patch (S-I, A-P, slices) of the tests' tiny package
TINY_SSHSNET_PATCHES = {"stage1": (64, 128), "stage2": (64, 64, 12)}


@pytest.fixture(scope="session")
def tiny_sshsnet_package(tmp_path_factory):
    """A tiny SSHSNet package (random weights, seed 3, FP32 ONNX, :data:`TINY_SSHSNET_PATCHES`), exported once
    per session and shared by the pipeline, CLI and benchmark tests (needs torch). Tests must not modify it."""
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    out = tmp_path_factory.mktemp("shared_packages") / "sshsnet_tiny"
    return export_package("sshsnet", out=out, preset="tiny", random_init=True, seed=3,
                          patch_sizes=TINY_SSHSNET_PATCHES, precisions=["fp32"])
