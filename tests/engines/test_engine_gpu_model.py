"""An engine built on another GPU model of the same compute capability is used, with a warning.

The machines are stated as data (``MachineFacts``), as in the other engine tests.
"""

from __future__ import annotations

import warnings

import pytest
from engine_key_examples import H200_WITH_TRT_10_16, key_parts
from tiny_engine_package import write_tiny_package

from spine_rt.engines import EngineStore, engine_runner
from spine_rt.engines.engine_runner import GpuModelWarning, find_stage_engine, gpu_model_difference
from spine_rt.model_package import ModelPackage


def test_gpu_model_difference():
    assert gpu_model_difference("NVIDIA H100 80GB HBM3", "NVIDIA H200") is not None
    assert "rebuild" in gpu_model_difference("NVIDIA H100 80GB HBM3", "NVIDIA H200")
    assert gpu_model_difference("NVIDIA H200", "NVIDIA H200") is None
    assert gpu_model_difference(None, "NVIDIA H200") is None  # an engine.json without the GPU name
    assert gpu_model_difference("NVIDIA H200", None) is None


def _package_with_engine(tmp_path, built_on: str):
    root = write_tiny_package(tmp_path / "pkg", stages=("stage2",))
    package = ModelPackage.open(root)
    graph = package.stage("stage2").graph("fp16", 0)
    EngineStore(root).write(stage="stage2", fold=0, graph=graph.path,
                            key_parts=key_parts(onnx_sha256=package.sha256(graph.path)),
                            plan=b"serialized engine bytes", build={"gpu_name": built_on})
    return root


def test_an_h100_engine_on_an_h200_warns(tmp_path, monkeypatch):
    root = _package_with_engine(tmp_path, "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(engine_runner, "probe_machine", lambda device: H200_WITH_TRT_10_16)
    with pytest.warns(GpuModelWarning, match="built on NVIDIA H100 80GB HBM3, this GPU is NVIDIA H200"):
        stored = find_stage_engine(root, "stage2", precision="fp16")
    assert stored.record.build["gpu_name"] == "NVIDIA H100 80GB HBM3"


def test_an_engine_of_this_gpu_model_does_not_warn(tmp_path, monkeypatch):
    root = _package_with_engine(tmp_path, "NVIDIA H200")
    monkeypatch.setattr(engine_runner, "probe_machine", lambda device: H200_WITH_TRT_10_16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GpuModelWarning)
        find_stage_engine(root, "stage2", precision="fp16")
