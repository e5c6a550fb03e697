"""The build plan: graphs, profiles, keys and actions, computed without TensorRT."""

from __future__ import annotations

import json

import pytest

from engine_key_examples import H200_WITH_TRT_10_16, MACHINE_WITHOUT_TRT_OR_GPU
from spine_rt.engines import BuildOptions, EngineStore, MachineFacts, plan_build
from spine_rt.engines.build import ACTION_BUILD, ACTION_CANNOT_BUILD, ACTION_REBUILD, ACTION_UP_TO_DATE
from spine_rt.errors import InputError
from spine_rt.model_package import ModelPackage, sha256_file


def test_plan_uses_the_fp16_graphs_and_the_manifest_shapes(tiny_package):
    package = ModelPackage.open(tiny_package)
    plan = plan_build(package, BuildOptions(max_batch=8, opt_batch=4), H200_WITH_TRT_10_16)
    assert [(b.stage, b.fold, b.graph) for b in plan.stages] == [
        ("stage1", 0, "stage1/fold0.fp16.onnx"), ("stage2", 0, "stage2/fold0.fp16.onnx")]
    stage2 = plan.stages[1]
    assert stage2.key_parts.onnx_sha256 == sha256_file(tiny_package / "stage2" / "fold0.fp16.onnx")
    (volume,) = stage2.key_parts.profile
    assert (volume.name, volume.min, volume.opt, volume.max) == (
        "volume", (1, 1, 8, 8, 4), (4, 1, 8, 8, 4), (8, 1, 8, 8, 4))
    assert stage2.key_parts.precision == "fp16"
    assert stage2.key_parts.tensorrt_version == "10.16.1.11" and stage2.key_parts.compute_capability == "9.0"
    assert stage2.action == ACTION_BUILD and stage2.key == stage2.key_parts.key()
    assert plan.timing_cache == tiny_package / "engines" / "timing-caches" / "10.16.1.11-sm90.cache"
    assert plan.missing_on_this_machine == ()


def test_fp32_only_when_asked(tiny_package):
    plan = plan_build(ModelPackage.open(tiny_package), BuildOptions(precision="fp32"), H200_WITH_TRT_10_16)
    assert [b.graph for b in plan.stages] == ["stage1/fold0.fp32.onnx", "stage2/fold0.fp32.onnx"]
    assert {b.key_parts.precision for b in plan.stages} == {"fp32"}


def test_package_without_fp16_graph_is_an_input_error(fp32_only_package):
    with pytest.raises(InputError, match="stage stage1 has no fp16 graph .graphs present: fp32/fold0.*--precision fp32"):
        plan_build(ModelPackage.open(fp32_only_package), BuildOptions(), H200_WITH_TRT_10_16)


def test_stage_and_fold_selection(tiny_package):
    package = ModelPackage.open(tiny_package)
    plan = plan_build(package, BuildOptions(stages=["stage2"]), H200_WITH_TRT_10_16)
    assert [b.stage for b in plan.stages] == ["stage2"]
    with pytest.raises(InputError, match=r"no stage 'stage9' \(stages: stage1, stage2\)"):
        plan_build(package, BuildOptions(stages=["stage9"]), H200_WITH_TRT_10_16)
    with pytest.raises(InputError, match="no fp16 graph for fold.s. 3 .folds with fp16 graphs: 0."):
        plan_build(package, BuildOptions(folds=[3]), H200_WITH_TRT_10_16)


def test_actions_follow_the_store(tiny_package):
    package = ModelPackage.open(tiny_package)
    options = BuildOptions(stages=["stage2"])
    (build,) = plan_build(package, options, H200_WITH_TRT_10_16).stages
    assert (build.action, build.reason) == (ACTION_BUILD, "not built")
    EngineStore(tiny_package).write(stage="stage2", fold=0, graph=build.graph, key_parts=build.key_parts, plan=b"p")
    (build,) = plan_build(package, options, H200_WITH_TRT_10_16).stages
    assert build.action == ACTION_UP_TO_DATE
    (build,) = plan_build(package, BuildOptions(stages=["stage2"], rebuild=True), H200_WITH_TRT_10_16).stages
    assert build.action == ACTION_REBUILD
    other_gpu = MachineFacts("cuda:0", "10.16.1.11", "8.0", "NVIDIA A100")
    (build,) = plan_build(package, options, other_gpu).stages
    assert build.action == ACTION_BUILD  # another key: the H200 engine is not reused for an A100


def test_an_engine_of_another_gpu_model_is_kept_and_the_plan_says_why_to_rebuild(tiny_package):
    """Same compute capability, so the same key: an H100's engine is up to date on an H200, with a reason."""
    package = ModelPackage.open(tiny_package)
    options = BuildOptions(stages=["stage2"])
    (build,) = plan_build(package, options, H200_WITH_TRT_10_16).stages
    EngineStore(tiny_package).write(stage="stage2", fold=0, graph=build.graph, key_parts=build.key_parts, plan=b"p",
                                    build={"gpu_name": "NVIDIA H100 80GB HBM3"})
    plan = plan_build(package, options, H200_WITH_TRT_10_16)
    (build,) = plan.stages
    assert build.action == ACTION_UP_TO_DATE
    assert "built on NVIDIA H100 80GB HBM3, this GPU is NVIDIA H200" in build.reason and "--rebuild" in build.reason
    assert plan.to_dict()["engines"][0]["reason"] == build.reason
    same_model = MachineFacts("cuda:0", "10.16.1.11", "9.0", "NVIDIA H100 80GB HBM3")
    (build,) = plan_build(package, options, same_model).stages
    assert (build.action, build.reason) == (ACTION_UP_TO_DATE, None)


def test_other_batch_range_is_another_engine(tiny_package):
    package = ModelPackage.open(tiny_package)
    small = plan_build(package, BuildOptions(max_batch=2), H200_WITH_TRT_10_16).stages[0]
    large = plan_build(package, BuildOptions(max_batch=8), H200_WITH_TRT_10_16).stages[0]
    assert small.key != large.key


def test_plan_on_a_machine_without_tensorrt_or_gpu(tiny_package):
    plan = plan_build(ModelPackage.open(tiny_package), BuildOptions(), MACHINE_WITHOUT_TRT_OR_GPU)
    assert plan.missing_on_this_machine == ("TensorRT: not installed", "GPU: no GPU visible")
    assert plan.timing_cache is None
    for build in plan.stages:
        assert build.key is None and build.action == ACTION_CANNOT_BUILD
        assert build.reason == "the key needs what this machine lacks: TensorRT not installed, no GPU visible"


def test_plan_json_marks_what_is_unknown(tiny_package):
    plan = plan_build(ModelPackage.open(tiny_package), BuildOptions(max_batch=2), MACHINE_WITHOUT_TRT_OR_GPU)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["machine"] == {"tensorrt_version": "not installed", "compute_capability": "no GPU visible",
                               "gpu_name": None}
    assert data["precision"] == "fp16" and data["batch"] == {"min": 1, "opt": 2, "max": 2}
    engine = data["engines"][0]
    assert engine["key"] is None and engine["engine_folder"] is None
    assert engine["key_parts"]["tensorrt_version"] == "not installed"
    assert engine["key_parts"]["compute_capability"] == "no GPU visible"
    assert engine["graph"] == "stage1/fold0.fp16.onnx" and len(engine["graph_sha256"]) == 64
    assert engine["profile"] == [{"name": "image", "min": [1, 2, 16, 16], "opt": [2, 2, 16, 16], "max": [2, 2, 16, 16]}]


def test_plan_json_with_a_known_machine(tiny_package):
    plan = plan_build(ModelPackage.open(tiny_package), BuildOptions(), H200_WITH_TRT_10_16)
    data = plan.to_dict()
    assert data["engines"][0]["engine_folder"] == f"engines/{plan.stages[0].key}"
    assert data["engines"][0]["key_parts"]["tensorrt_version"] == "10.16.1.11"
    assert data["missing_on_this_machine"] == []
