"""``spine-rt triton-repo``: complete repositories for the three flavours, configs that Triton's protobuf parses.

The tensorrt flavour copies the engines of the package's engine store; no
TensorRT exists here, so the store is filled with placeholder plan bytes
through :class:`~spine_rt.engines.EngineStore` (the repository writer copies
the file and reads only ``engine.json``; nothing runs the plan).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from spine_rt.cli.main import main
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage, TensorEntry
from spine_rt.serving.triton_model_config import TritonModelConfig
from spine_rt.serving.triton_repository import RECORD_NAME, RepositoryOptions, write_triton_repository

pytestmark = [pytest.mark.triton, pytest.mark.torch]


def parse(path: Path):
    from spine_rt.serving.triton_model_config import parse_model_config

    return parse_model_config(path.read_text(), source=str(path))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_models_match_package(repo: Path, package: ModelPackage, platform: str, backend: str, kind: str) -> None:
    """Every stage and fold has a model whose config names the package's tensors with dims without the batch axis."""
    from tritonclient.grpc import model_config_pb2

    names = sorted(p.name for p in repo.iterdir() if p.is_dir())
    assert names == ["stage1_fold0", "stage2_fold0"]
    for name in names:
        stage = package.stage(name.split("_")[0])
        config = parse(repo / name / "config.pbtxt")
        assert config.name == name and config.platform == platform and config.backend == backend
        assert [(t.name, list(t.dims), t.data_type) for t in config.input] == [
            (t.name, list(t.shape[1:]), model_config_pb2.TYPE_FP32) for t in stage.inputs]
        assert [(t.name, list(t.dims)) for t in config.output] == [(t.name, list(t.shape[1:])) for t in stage.outputs]
        assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] == \
            [(1, kind)]


def test_python_flavour_is_complete_and_parses(tiny_package_root, tmp_path):
    package = ModelPackage.open(tiny_package_root)
    repo = tmp_path / "repo"
    assert main(["triton-repo", str(tiny_package_root), "--out", str(repo), "--flavour", "python",
                 "--threads", "1"]) == 0
    check_models_match_package(repo, package, "", "python", "KIND_CPU")
    for name, stage, batch in (("stage1_fold0", "stage1", 8), ("stage2_fold0", "stage2", 4)):
        config = parse(repo / name / "config.pbtxt")
        assert config.max_batch_size == 2 * batch
        assert list(config.dynamic_batching.preferred_batch_size) == [batch, 2 * batch]
        assert config.parameters["intra_op_threads"].string_value == "1"
        assert sha(repo / name / "1" / "model.onnx") == package.sha256(f"{stage}/fold0.fp32.onnx")
        assert "TritonPythonModel" in (repo / name / "1" / "model.py").read_text()
    record = json.loads((repo / RECORD_NAME).read_text())
    assert record["flavour"] == "python" and [m["name"] for m in record["models"]] == ["stage1_fold0", "stage2_fold0"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_onnxruntime_flavour_options(tiny_package_root, tmp_path):
    package = ModelPackage.open(tiny_package_root)
    repo = tmp_path / "repo"
    models = write_triton_repository(package, repo, RepositoryOptions(
        max_batch=12, instances=2, dynamic_batching="3,12", queue_delay_us=500, model_name_prefix="spine_"))
    assert [m.name for m in models] == ["spine_stage1_fold0", "spine_stage2_fold0"]
    for model in models:
        config = parse(repo / model.name / "config.pbtxt")
        assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 12
        assert list(config.dynamic_batching.preferred_batch_size) == [3, 12]
        assert config.dynamic_batching.max_queue_delay_microseconds == 500
        assert config.instance_group[0].count == 2 and config.instance_group[0].kind == 1  # KIND_GPU
        assert sha(repo / model.name / "1" / "model.onnx") == package.sha256(model.source)
        assert not (repo / model.name / "1" / "model.py").exists()
    off = write_triton_repository(package, tmp_path / "off", RepositoryOptions(dynamic_batching="off"))
    assert not parse(tmp_path / "off" / off[0].name / "config.pbtxt").HasField("dynamic_batching")


def add_engine(package_root: Path, stage: str, gpu_name: str, capability: str, batch: tuple[int, int, int]) -> bytes:
    """Store an engine record with placeholder plan bytes for the current fp32 graph of ``stage``."""
    from spine_rt.engines import EngineKeyParts, EngineStore
    from spine_rt.engines.options import BatchRange, stage_shape_ranges

    package = ModelPackage.open(package_root)
    graph = f"{stage}/fold0.fp32.onnx"
    parts = EngineKeyParts(onnx_sha256=package.sha256(graph), tensorrt_version="10.16.1.11",
                           compute_capability=capability,
                           profile=stage_shape_ranges(package.stage(stage), BatchRange(*batch), stage),
                           precision="fp32", version_compatible=False)
    plan = f"placeholder plan {stage} {gpu_name}".encode()
    EngineStore(package_root).write(stage=stage, fold=0, graph=graph, key_parts=parts, plan=plan,
                                    build={"gpu_name": gpu_name})
    return plan


def test_tensorrt_flavour_takes_the_named_gpus_engines(tiny_package_root, tmp_path):
    package_root = shutil.copytree(tiny_package_root, tmp_path / "pkg")
    plans = {}
    for stage in ("stage1", "stage2"):
        plans[stage, "h100"] = add_engine(package_root, stage, "NVIDIA H100 80GB HBM3", "9.0", (1, 8, 16))
        plans[stage, "a100"] = add_engine(package_root, stage, "NVIDIA A100-SXM4-40GB", "8.0", (1, 4, 4))
    with pytest.raises(InputError, match="several GPUs"):
        write_triton_repository(package_root, tmp_path / "r0", RepositoryOptions(flavour="tensorrt", precision="fp32"))
    with pytest.raises(EnvironmentProblem, match="no TensorRT engine .* for GPU 'l4'"):
        write_triton_repository(package_root, tmp_path / "r0",
                                RepositoryOptions(flavour="tensorrt", precision="fp32", gpu="l4"))
    with pytest.raises(InputError, match="at most batch 4"):
        write_triton_repository(package_root, tmp_path / "r0",
                                RepositoryOptions(flavour="tensorrt", precision="fp32", gpu="8.0", max_batch=8))
    assert not (tmp_path / "r0").exists()

    repo = tmp_path / "repo"
    assert main(["triton-repo", str(package_root), "--out", str(repo), "--flavour", "tensorrt", "--precision", "fp32",
                 "--gpu", "h100"]) == 0
    check_models_match_package(repo, ModelPackage.open(package_root), "tensorrt_plan", "", "KIND_GPU")
    for stage in ("stage1", "stage2"):
        folder = repo / f"{stage}_fold0"
        assert (folder / "1" / "model.plan").read_bytes() == plans[stage, "h100"]
        config = parse(folder / "config.pbtxt")
        assert config.max_batch_size == 16 and list(config.dynamic_batching.preferred_batch_size) == [8, 16]
    a100 = write_triton_repository(package_root, tmp_path / "a100",
                                   RepositoryOptions(flavour="tensorrt", precision="fp32", gpu="8.0"))
    assert (tmp_path / "a100" / a100[1].name / "1" / "model.plan").read_bytes() == plans["stage2", "a100"]


def test_refusals_leave_nothing_behind(tiny_package_root, tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    assert main(["triton-repo", str(tiny_package_root), "--out", str(repo)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["triton-repo", str(tiny_package_root), "--out", str(tiny_package_root / "repo")]) == 2
    assert "outside the package" in capsys.readouterr().err
    assert main(["triton-repo", str(tiny_package_root), "--out", str(tmp_path / "r"), "--precision", "fp16"]) == 2
    assert "no fp16 graph" in capsys.readouterr().err
    assert main(["triton-repo", str(tiny_package_root), "--out", str(tmp_path / "r"),
                 "--dynamic-batching", "4,99"]) == 2
    assert "preferred batch sizes" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"] and not list(repo.iterdir())
    assert not (tiny_package_root / "repo").exists()
    assert main(["triton-repo", str(tiny_package_root), "--out", str(repo), "--overwrite"]) == 0
    assert (repo / "stage2_fold0" / "config.pbtxt").is_file()


def test_model_config_checks_without_a_package():
    image = TensorEntry("image", (None, 3, 16, 16))
    with pytest.raises(InputError, match="dynamic batch axis first"):
        TritonModelConfig("m", "python", (TensorEntry("x", (2, 3)),), (image,), max_batch_size=4)
    with pytest.raises(InputError, match="unknown Triton flavour"):
        TritonModelConfig("m", "openvino", (image,), (image,), max_batch_size=4)
    config = TritonModelConfig("m", "python", (image,), (image,), max_batch_size=4, preferred_batch_sizes=(4, 2, 2),
                               parameters={"note": 'a "quoted" value'})
    parsed = parse_text(config.to_pbtxt())
    assert list(parsed.dynamic_batching.preferred_batch_size) == [2, 4]
    assert parsed.parameters["note"].string_value == 'a "quoted" value'
    with pytest.raises(InputError, match="not a valid Triton model configuration"):
        parse_text(config.to_pbtxt().replace("max_batch_size", "max_batch"))


def parse_text(text: str):
    from spine_rt.serving.triton_model_config import parse_model_config

    return parse_model_config(text)


def test_load_pipeline_triton_options_are_checked(tiny_package_root):
    from spine_rt.pipelines import load_pipeline

    with pytest.raises(InputError, match="needs servers"):
        load_pipeline(tiny_package_root, backend="triton")
    with pytest.raises(InputError, match="apply to backend 'triton' only"):
        load_pipeline(tiny_package_root, backend="onnxruntime", servers="127.0.0.1:8001")
    with pytest.raises(InputError, match="leave device unset"):
        load_pipeline(tiny_package_root, backend="triton", servers="127.0.0.1:8001", device="cuda:0")
    with pytest.raises(InputError, match="not HOST:PORT"):
        load_pipeline(tiny_package_root, backend="triton", servers="127.0.0.1")


def test_onnxruntime_flavour_takes_the_fp16_graph_when_asked(tmp_path):
    """On the engine tests' two-stage conv package (FP32 + strongly typed FP16 graphs, onnx only)."""
    import importlib.util

    source = Path(__file__).resolve().parents[1] / "engines" / "tiny_engine_package.py"
    spec = importlib.util.spec_from_file_location("tiny_engine_package", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    package = ModelPackage.open(module.write_tiny_package(tmp_path / "pkg"))
    models = write_triton_repository(package, tmp_path / "repo", RepositoryOptions(precision="fp16"))
    for model in models:
        assert model.source == f"{model.stage}/fold0.fp16.onnx"
        assert sha(tmp_path / "repo" / model.name / "1" / "model.onnx") == package.sha256(model.source)
        config = parse(tmp_path / "repo" / model.name / "config.pbtxt")
        assert config.parameters["spine_rt_precision"].string_value == "fp16"
        assert [list(t.dims) for t in config.input] == [list(t.shape[1:]) for t in package.stage(model.stage).inputs]
