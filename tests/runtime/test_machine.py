"""This machine's facts (spine_rt.runtime.machine): CPU capabilities from /proc/cpuinfo text, the
OpenVINO model-cache key built from them, the benchmark snapshot, ``describe_environment`` and
the engine key's TensorRT/GPU probe."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pytest

import spine_rt
from spine_rt.dependencies import is_available
from spine_rt.engines import probe_machine
from spine_rt.errors import InputError
from spine_rt.runtime import machine
from spine_rt.runtime.machine import (
    NO_GPU,
    NOT_INSTALLED,
    CpuCapabilities,
    MachineFacts,
    cpu_capabilities,
    describe_environment,
    machine_snapshot,
    parse_cpuinfo,
    usable_cores,
)
from spine_rt.runtime.openvino_cache import cache_key, default_cache_root

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: ignored (first processor counts)
"""
EPYC_ZEN4 = "model name : AMD EPYC 9654\nflags : fpu avx2 avx512f avx512_bf16\n"
SKYLAKE = "model name : Intel(R) Xeon(R) Gold 6148\nflags : fpu avx2 avx512f\n"


def test_parse_flags():
    spr = parse_cpuinfo(SAPPHIRE_RAPIDS)
    assert spr.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert (spr.avx2, spr.avx512, spr.avx512_bf16, spr.amx, spr.native_bf16) == (True, True, True, True, True)
    zen4 = parse_cpuinfo(EPYC_ZEN4)
    assert (zen4.avx512_bf16, zen4.amx, zen4.native_bf16) == (True, False, True)
    skylake = parse_cpuinfo(SKYLAKE)
    assert (skylake.avx512, skylake.native_bf16) == (True, False)


def test_amx_needs_both_tile_and_bf16_flags():
    assert parse_cpuinfo("flags : amx_tile amx_int8\n").amx is False


def test_unreadable_flags_are_unknown_not_false():
    unknown = parse_cpuinfo("")
    assert unknown.avx512 is None and unknown.native_bf16 is None
    assert unknown.key_text().endswith("|unknown-flags")


def test_this_machine_reports_something():
    here = cpu_capabilities()
    assert isinstance(here, CpuCapabilities) and here.model
    assert set(here.as_dict()) >= {"model", "avx512", "avx512_bf16", "amx", "native_bf16"}


def test_cache_key_changes_with_each_part():
    spr = parse_cpuinfo(SAPPHIRE_RAPIDS)
    base = cache_key("a" * 64, "2026.4.1", spr, "fp32")
    variants = [cache_key("b" * 64, "2026.4.1", spr, "fp32"), cache_key("a" * 64, "2026.5.0", spr, "fp32"),
                cache_key("a" * 64, "2026.4.1", parse_cpuinfo(SKYLAKE), "fp32"),
                cache_key("a" * 64, "2026.4.1", spr, "bf16")]
    keys = {base.key()} | {variant.key() for variant in variants}
    assert len(keys) == 5 and all(len(key) == 16 for key in keys)
    assert base.key() == cache_key("a" * 64, "2026.4.1", parse_cpuinfo(SAPPHIRE_RAPIDS), "fp32").key()


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("SPINE_RT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "spine-rt"


def test_snapshot_names_the_cpu_and_the_usable_cores():
    snapshot = machine_snapshot()
    assert set(snapshot) == {"cpu_model", "usable_cores", "logical_cpus", "load_average_1_5_15_min", "torch_threads"}
    assert snapshot["cpu_model"] == cpu_capabilities().model
    assert snapshot["usable_cores"] == usable_cores() == len(os.sched_getaffinity(0))
    json.dumps(snapshot)


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

    monkeypatch.setattr(machine, "visible_gpus", broken)
    info = describe_environment()
    assert info["gpus"] is None
    assert "GPUs: RuntimeError: driver exploded" in info["problems"]


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
