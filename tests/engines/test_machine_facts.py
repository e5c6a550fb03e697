"""Probing this machine for the engine key's TensorRT version and compute capability."""

from __future__ import annotations

import pytest

from spine_rt.dependencies import is_available
from spine_rt.engines import probe_machine
from spine_rt.engines.machine_facts import NO_GPU, NOT_INSTALLED, MachineFacts
from spine_rt.errors import InputError


def _gpu_visible() -> bool:
    from spine_rt.runtime import visible_gpus

    return bool(visible_gpus())


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_tensorrt_is_reported_not_installed():
    facts = probe_machine("cuda:0")
    assert facts.tensorrt_version is None and facts.tensorrt_label == NOT_INSTALLED


def test_compute_capability_or_why_not():
    facts = probe_machine("cuda")
    assert facts.device == "cuda:0"
    if _gpu_visible():
        assert facts.compute_capability is not None and facts.gpu_problem is None
    else:
        assert facts.compute_capability is None and facts.compute_capability_label != ""


@pytest.mark.skipif(not is_available("torch"), reason="needs torch to say that no GPU is visible")
def test_no_gpu_label_without_a_gpu():
    if _gpu_visible():
        pytest.skip("a GPU is visible here")
    assert probe_machine("cuda:0").compute_capability_label == NO_GPU


def test_cpu_is_not_an_engine_device():
    with pytest.raises(InputError, match="CUDA devices"):
        probe_machine("cpu")


def test_labels_of_known_facts():
    facts = MachineFacts("cuda:1", "10.16.1.11", "9.0", "NVIDIA H200")
    assert facts.tensorrt_label == "10.16.1.11" and facts.compute_capability_label == "9.0"
