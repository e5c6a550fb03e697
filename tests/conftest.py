"""Shared test configuration: markers that skip visibly, and the shared data path.

* ``gpu``: runs only where torch sees a CUDA GPU; reported as skipped elsewhere.
* ``tensorrt``: runs only where the ``tensorrt`` module imports.
* ``torch``: runs only where torch is installed (the base install has none).
* ``highdicom``: runs only where highdicom (the ``dicom`` extra) imports.
* ``dciodvfy``: runs only where dicom3tools' ``dciodvfy`` is on PATH (Debian: ``apt-get install dicom3tools``).
* ``triton``: runs only where tritonclient is installed; tests that start a
  local server also need nvidia-pytriton (fixture ``tritonserver_installed``).
* ``smp``: runs only where segmentation-models-pytorch (0.1.3, the SSHSNet
  authors' version) imports in a subprocess with the torchvision shim of
  ``../shared/tools/torchvision_shim`` on ``PYTHONPATH`` (``tests/smp_subprocess.py``);
  the shim never enters the test process itself.
* ``openvino``: runs only where the ``openvino`` module imports.

Tests that need the real scans use the ``shared_data`` fixture, which skips
when ``../shared/data`` is absent.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from smp_subprocess import smp_import_problem

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
    has_triton = _has("tritonclient")
    has_openvino = _has("openvino")
    has_gpu = None  # computed lazily: importing torch costs a second
    has_highdicom = _has("highdicom")
    has_dciodvfy = shutil.which("dciodvfy") is not None
    smp_problem: str | None | bool = False  # computed lazily: a subprocess import of smp
    for item in items:
        if item.get_closest_marker("highdicom") and not has_highdicom:
            item.add_marker(pytest.mark.skip(reason="highdicom is not installed (pip install 'spine-rt[dicom]')"))
        if item.get_closest_marker("dciodvfy") and not has_dciodvfy:
            item.add_marker(pytest.mark.skip(reason="dciodvfy (dicom3tools) is not on PATH; apt-get install dicom3tools"))
        if item.get_closest_marker("torch") and not has_torch:
            item.add_marker(pytest.mark.skip(reason="torch is not installed"))
        if item.get_closest_marker("openvino") and not has_openvino:
            item.add_marker(pytest.mark.skip(reason="openvino is not installed (pip install openvino)"))
        if item.get_closest_marker("tensorrt") and not has_trt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed on this machine"))
        if item.get_closest_marker("triton") and not has_triton:
            item.add_marker(pytest.mark.skip(reason="tritonclient is not installed (pip install 'spine-rt[serve]')"))
        if item.get_closest_marker("gpu"):
            if has_gpu is None:
                has_gpu = _cuda_visible()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="no CUDA GPU visible"))
        if item.get_closest_marker("smp"):
            if smp_problem is False:
                smp_problem = smp_import_problem() if _has("segmentation_models_pytorch") else \
                    "segmentation-models-pytorch is not installed"
            if smp_problem:
                item.add_marker(pytest.mark.skip(reason=smp_problem))


@pytest.fixture(scope="session")
def tritonserver_installed() -> None:
    """Skips the test where nvidia-pytriton (the local tritonserver) is not installed."""
    if not _has("pytriton"):
        pytest.skip("nvidia-pytriton is not installed (pip install --no-deps nvidia-pytriton)")


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
