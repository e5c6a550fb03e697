"""The engine store and opening stored engines (spine_rt.engines.store).

The engine store: layout, checks on read, atomic writes, lookup with mismatch messages.

An engine built on another GPU model of the same compute capability is used, with a warning.

The machines are stated as data (``MachineFacts``), as in the other engine tests.
"""

from __future__ import annotations

import json
import os
import warnings

import pytest

from engine_key_examples import H200_WITH_TRT_10_16, key_parts
from spine_rt import atomic_write
from spine_rt.engines import EngineRequirement, EngineStore, ShapeRange
from spine_rt.engines import store as store_module
from spine_rt.engines.store import GpuModelWarning, find_stage_engine, gpu_model_difference
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage
from tiny_engine_package import write_tiny_package

PLAN = b"serialized engine bytes"


def _write(store: EngineStore, parts=None, plan: bytes = PLAN, stage: str = "stage2", fold: int = 0):
    return store.write(stage=stage, fold=fold, graph=f"{stage}/fold{fold}.fp16.onnx",
                       key_parts=parts or key_parts(), plan=plan, build={"opt_level": 3})


def _requirement(**changes) -> EngineRequirement:
    fields = dict(onnx_sha256="ab" * 32, precision="fp16", tensorrt_version="10.16.1.11",
                  compute_capability="9.0", graph="stage2/fold0.fp16.onnx")
    fields.update(changes)
    return EngineRequirement(**fields)


def test_layout(tmp_path):
    store = EngineStore(tmp_path)
    stored = _write(store)
    key = key_parts().key()
    assert stored.folder == tmp_path / "engines" / key
    assert sorted(p.name for p in stored.folder.iterdir()) == ["engine.json", "stage2.plan"]
    assert stored.plan_path.read_bytes() == PLAN
    record = json.loads((stored.folder / "engine.json").read_text())
    assert record["key"] == key and record["stage"] == "stage2" and record["plan_bytes"] == len(PLAN)
    assert [p.name for p in (tmp_path / "engines").iterdir()] == [key]  # no temporary folder left


def test_read_back_and_check(tmp_path):
    store = EngineStore(tmp_path)
    _write(store)
    key = key_parts().key()
    assert store.read(key).read_plan() == PLAN
    assert store.check(key)[1] is None
    assert store.check("0" * 16) == (None, "not built")


def test_edited_record_is_refused(tmp_path):
    store = EngineStore(tmp_path)
    stored = _write(store)
    record_path = stored.folder / "engine.json"
    data = json.loads(record_path.read_text())
    data["key_parts"]["compute_capability"] = "8.0"  # pretending to be for another GPU
    record_path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="hash to .* not .*the record was edited"):
        store.read(stored.key)


def test_corrupt_or_truncated_plan_is_refused(tmp_path):
    store = EngineStore(tmp_path)
    stored = _write(store)
    stored.plan_path.write_bytes(b"X" * len(PLAN))
    with pytest.raises(InputError, match="does not match the sha256"):
        store.read(stored.key)
    assert store.read(stored.key, verify_plan=False).key == stored.key
    stored.plan_path.write_bytes(b"short")
    with pytest.raises(InputError, match="5 bytes, engine.json says"):
        store.read(stored.key, verify_plan=False)
    stored.plan_path.unlink()
    assert "stage2.plan is missing" in store.check(stored.key)[1]


def test_rewrite_replaces_atomically(tmp_path):
    store = EngineStore(tmp_path)
    _write(store)
    stored = _write(store, plan=b"rebuilt plan")
    assert store.read(stored.key).read_plan() == b"rebuilt plan"
    assert [p.name for p in store.root.iterdir()] == [stored.key]


def test_failed_write_leaves_no_engine_and_no_temporary_folder(tmp_path, monkeypatch):
    store = EngineStore(tmp_path)

    def failing_rename(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_write.os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        _write(store)
    assert list(store.root.iterdir()) == []


def test_failed_replacement_keeps_the_old_engine(tmp_path, monkeypatch):
    store = EngineStore(tmp_path)
    _write(store)
    real_rename = os.rename

    def rename_fails_for_the_new_folder(source, target):
        if ".spine-rt-tmp-" in os.path.basename(source):
            raise OSError("interrupted")
        real_rename(source, target)

    monkeypatch.setattr(atomic_write.os, "rename", rename_fails_for_the_new_folder)
    with pytest.raises(OSError, match="interrupted"):
        _write(store, plan=b"new plan")
    assert store.read(key_parts().key()).read_plan() == PLAN
    assert [p.name for p in store.root.iterdir()] == [key_parts().key()]


def test_unknown_key_parts_cannot_be_stored(tmp_path):
    with pytest.raises(EnvironmentProblem, match="unknown on this machine"):
        _write(EngineStore(tmp_path), parts=key_parts(compute_capability=None))


def test_find_returns_the_usable_engine(tmp_path):
    store = EngineStore(tmp_path)
    _write(store)
    found = store.find("stage2", _requirement(batch=2))
    assert found.key == key_parts().key()
    assert found.read_plan() == PLAN


def test_find_prefers_the_widest_batch_range(tmp_path):
    store = EngineStore(tmp_path)
    _write(store)
    wide = key_parts(profile=(ShapeRange("volume", (1, 1, 8, 8, 4), (8, 1, 8, 8, 4), (8, 1, 8, 8, 4)),))
    _write(store, parts=wide)
    assert store.find("stage2", _requirement()).key == wide.key()
    assert store.find("stage2", _requirement(batch=6)).key == wide.key()


def test_find_explains_an_engine_built_elsewhere(tmp_path):
    store = EngineStore(tmp_path)
    _write(store, parts=key_parts(compute_capability="8.0", tensorrt_version="10.3.0.26"))
    with pytest.raises(EnvironmentProblem) as exc:
        store.find("stage2", _requirement())
    message = str(exc.value)
    assert "built for compute capability 8.0, this GPU is 9.0" in message
    assert "built with TensorRT 10.3.0.26, installed 10.16.1.11" in message
    assert f"spine-rt build-engine {tmp_path} --stages stage2" in message
    assert "\n" not in message


def test_find_explains_a_changed_graph(tmp_path):
    store = EngineStore(tmp_path)
    _write(store)
    with pytest.raises(EnvironmentProblem, match="ONNX changed"):
        store.find("stage2", _requirement(onnx_sha256="cd" * 32))


def test_find_without_engines(tmp_path):
    store = EngineStore(tmp_path)
    with pytest.raises(EnvironmentProblem, match="no TensorRT engine for stage 'stage2' fold 0"):
        store.find("stage2", _requirement())
    _write(store, stage="stage1", parts=key_parts(onnx_sha256="11" * 32))
    with pytest.raises(EnvironmentProblem, match="no TensorRT engine for stage 'stage2'"):
        store.find("stage2", _requirement())
    with pytest.raises(EnvironmentProblem, match="no TensorRT engine for stage 'stage1' fold 1"):
        store.find("stage1", _requirement(onnx_sha256="11" * 32), fold=1)


def test_scan_skips_temporary_and_foreign_folders(tmp_path):
    store = EngineStore(tmp_path)
    stored = _write(store)
    (store.root / ".tmp-abc-123").mkdir()
    (store.root / "timing-caches").mkdir()
    broken = store.root / "0123456789abcdef"
    broken.mkdir()
    (broken / "engine.json").write_text("{not json")
    engines, problems = store.scan()
    assert [e.key for e in engines] == [stored.key]
    assert len(problems) == 1 and "not valid JSON" in problems[0]


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
    monkeypatch.setattr(store_module, "probe_machine", lambda device: H200_WITH_TRT_10_16)
    with pytest.warns(GpuModelWarning, match="built on NVIDIA H100 80GB HBM3, this GPU is NVIDIA H200"):
        stored = find_stage_engine(root, "stage2", precision="fp16")
    assert stored.record.build["gpu_name"] == "NVIDIA H100 80GB HBM3"


def test_an_engine_of_this_gpu_model_does_not_warn(tmp_path, monkeypatch):
    root = _package_with_engine(tmp_path, "NVIDIA H200")
    monkeypatch.setattr(store_module, "probe_machine", lambda device: H200_WITH_TRT_10_16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GpuModelWarning)
        find_stage_engine(root, "stage2", precision="fp16")
