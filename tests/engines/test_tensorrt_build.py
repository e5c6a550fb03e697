"""Real TensorRT builds of the tiny package (run where TensorRT, cuda-python and a GPU are present).

Engines are compared with onnxruntime on the FP32 graph: the FP32 engine
within rtol 1e-3, the strongly typed FP16 engine within rtol 1e-2.
"""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.engines import BuildOptions, EngineRequirement, EngineStore, build_engines, open_engine_runner
from spine_rt.errors import EnvironmentProblem
from tiny_engine_package import STAGES, write_tiny_package

pytestmark = [pytest.mark.tensorrt, pytest.mark.gpu]


@pytest.fixture(scope="module")
def tensorrt_stack():
    pytest.importorskip("tensorrt")
    pytest.importorskip("cuda.bindings")


@pytest.fixture(scope="module")
def built_package(tensorrt_stack, tmp_path_factory):
    """The tiny package with FP16 and FP32 engines (batch 1..4) and a timing cache file."""
    root = write_tiny_package(tmp_path_factory.mktemp("trt") / "pkg")
    cache = root.parent / "shared.cache"
    build_engines(root, BuildOptions(max_batch=4, timing_cache=cache))
    build_engines(root, BuildOptions(max_batch=4, precision="fp32", timing_cache=cache))
    return root


def _feed(stage: str, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    name, sizes, _, _ = STAGES[stage]
    return {name: np.random.default_rng(seed).standard_normal((batch, *sizes)).astype(np.float32)}


def _reference(package, stage: str, feed) -> np.ndarray:
    from spine_rt.runtime import OnnxRuntimeRunner

    with OnnxRuntimeRunner(package / stage / "fold0.fp32.onnx") as runner:
        return runner.infer(feed)["logits"]


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
@pytest.mark.parametrize(("precision", "rtol"), [("fp32", 1e-3), ("fp16", 1e-2)])
def test_engine_matches_onnxruntime_with_numpy(built_package, stage, precision, rtol):
    feed = _feed(stage, 3)
    expected = _reference(built_package, stage, feed)
    with open_engine_runner(built_package, stage, precision=precision, batch=3) as runner:
        got = runner.infer(feed)["logits"]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime_with_torch(built_package, precision):
    torch = pytest.importorskip("torch")
    feed = _feed("stage2", 4, seed=1)
    expected = _reference(built_package, "stage2", feed)
    tolerance = 1e-3 if precision == "fp32" else 1e-2
    with open_engine_runner(built_package, "stage2", precision=precision) as runner:
        out = runner.infer({name: torch.from_numpy(a).cuda() for name, a in feed.items()})["logits"]
    assert out.is_cuda
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=tolerance, atol=tolerance)


def test_cuda_graph_path_equals_plain_path(built_package):
    feed = _feed("stage1", 4, seed=2)
    with open_engine_runner(built_package, "stage1") as plain, \
            open_engine_runner(built_package, "stage1", cuda_graph=True) as graphed:
        expected = plain.infer(feed)["logits"]
        for _ in range(3):
            np.testing.assert_array_equal(graphed.infer(feed)["logits"], expected)
        assert graphed.captured_graph_count == 1


def test_existing_engines_are_kept_and_rebuilt_on_request(built_package):
    results = build_engines(built_package, BuildOptions(max_batch=4, stages=["stage1"]))
    assert [r.action for r in results] == ["up to date"]
    rebuilt = build_engines(built_package, BuildOptions(max_batch=4, stages=["stage1"], rebuild=True))
    assert [r.action for r in rebuilt] == ["built"] and rebuilt[0].key == results[0].key


def test_engine_for_another_gpu_is_detected(built_package):
    from spine_rt.engines import find_stage_engine
    from spine_rt.model_package import ModelPackage

    engine = find_stage_engine(built_package, "stage2")
    parts = engine.record.key_parts
    package = ModelPackage.open(built_package)
    elsewhere = EngineRequirement(onnx_sha256=package.sha256("stage2/fold0.fp16.onnx"), precision="fp16",
                                  tensorrt_version=parts.tensorrt_version, compute_capability="1.0")
    with pytest.raises(EnvironmentProblem, match=f"built for compute capability {parts.compute_capability}, this GPU is 1.0"):
        EngineStore(built_package).find("stage2", elsewhere)


def test_changed_graph_is_detected(built_package, tmp_path):
    import shutil

    copy = tmp_path / "changed"
    shutil.copytree(built_package, copy)
    write_tiny_package(copy, seed=7)  # new weights: new sha256 in the manifest, engines left in place
    with pytest.raises(EnvironmentProblem, match="ONNX changed"):
        open_engine_runner(copy, "stage2")


def test_batch_beyond_the_built_profile_is_detected(built_package):
    with pytest.raises(EnvironmentProblem, match="built for batch 1..4 .* batch 6 requested .rebuild with --max-batch 6."):
        open_engine_runner(built_package, "stage2", batch=6)


def test_timing_cache_is_written_and_reused(tensorrt_stack, tmp_path):
    from spine_rt.engines import ShapeRange
    from spine_rt.engines.tensorrt_build import TimingCacheFile, build_serialized_engine

    root = write_tiny_package(tmp_path / "pkg", stages=("stage1",))
    profile = [ShapeRange("image", (1, 2, 16, 16), (2, 2, 16, 16), (2, 2, 16, 16))]
    path = tmp_path / "caches" / "tiny.cache"
    first = TimingCacheFile(path)
    build_serialized_engine(root / "stage1" / "fold0.fp16.onnx", profile, timing_cache=first)
    assert first.loaded_bytes == 0 and path.stat().st_size > 0
    second = TimingCacheFile(path)
    build_serialized_engine(root / "stage1" / "fold0.fp16.onnx", profile, timing_cache=second)
    assert second.loaded_bytes > 0  # the second build started from the first one's cache
    assert [p.name for p in path.parent.iterdir()] == ["tiny.cache"]


def test_the_builder_makes_strongly_typed_networks(tensorrt_stack):
    """The network the build parses graphs into is strongly typed (asked of TensorRT, not recomputed here).

    TensorRT 10: only with the STRONGLY_TYPED creation flag, which the network reports through
    ``get_flag``. TensorRT 11: every network is strongly typed and the flag is ignored; the
    network is still created and asked, so a flag value TensorRT 11 refuses fails here.
    """
    import tensorrt

    from spine_rt.engines.tensorrt_build import create_network
    from spine_rt.runtime.tensorrt_logger import make_tensorrt_logger

    builder = tensorrt.Builder(make_tensorrt_logger(tensorrt))
    network = create_network(tensorrt, builder)  # what build_serialized_engine calls
    assert network is not None
    strongly_typed = network.get_flag(tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    if int(tensorrt.__version__.split(".")[0]) < 11:
        assert strongly_typed
