"""OpenVINORunner: values, static batches, the same IO validation and errors as the other runners, model cache, bf16."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.machine import parse_cpuinfo
from spine_rt.runtime.tensor_spec import TensorSpec

pytestmark = pytest.mark.openvino
capabilities_module = importlib.import_module("spine_rt.runtime.machine")

NATIVE_BF16 = bool(capabilities_module.cpu_capabilities().native_bf16)
needs_native_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has neither AVX512_BF16 nor AMX")


@pytest.fixture
def runner_class(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    return OpenVINORunner


@pytest.fixture
def without_bf16(monkeypatch):
    """This CPU as one with AVX-512 but neither AVX512_BF16 nor AMX."""
    plain = parse_cpuinfo("model name : Plain CPU\nflags : fpu avx2 avx512f\n")
    monkeypatch.setattr(capabilities_module, "cpu_capabilities", lambda: plain)


def test_values_and_each_batch_compiled_once(runner_class, affine_model_path):
    with runner_class(affine_model_path, threads=1, batch=2) as runner:
        for batch in (2, 1, 4, 2):
            x = np.arange(batch * 3, dtype=np.float32).reshape(batch, 3)
            out = runner.infer({"X": x})
            assert list(out) == ["Y"]
            np.testing.assert_allclose(out["Y"], 2 * x + 1)
        assert sorted(runner._compiled) == [1, 2, 4]


def test_specs_from_the_graph_with_the_batch_dynamic(runner_class, affine_model_path):
    with runner_class(affine_model_path) as runner:
        assert runner.input_specs == (TensorSpec("X", (None, 3), np.float32),)
        assert runner.output_specs == (TensorSpec("Y", (None, 3), np.float32),)
        assert runner.describe() == {"name": "affine.onnx", "backend": "openvino", "device": "cpu",
                                     "precision": "fp32", "threads": "default", "streams": "default"}


def test_two_inputs_two_outputs(runner_class, tmp_path, two_output_model):
    path = tmp_path / "two.onnx"
    path.write_bytes(two_output_model)
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with runner_class(path) as runner:
        out = runner.infer({"a": a, "steps": np.array([0, 5, 7], np.int64)})
    np.testing.assert_allclose(out["sum"], a + a)
    np.testing.assert_array_equal(out["count"], [1, 6, 8])


def test_outputs_are_copies_that_survive_the_next_call(runner_class, affine_model_path):
    with runner_class(affine_model_path, batch=1) as runner:
        first = runner.infer({"X": np.ones((1, 3), np.float32)})["Y"]
        runner.infer({"X": np.zeros((1, 3), np.float32)})
    np.testing.assert_allclose(first, 3.0)


def test_validation_errors_name_the_spec(runner_class, affine_model_path):
    with runner_class(affine_model_path) as runner:
        with pytest.raises(InputError, match=r"^OpenVINORunner 'affine.onnx': input 'X' expected float32 \(N, 3\) "
                                             r"\[N dynamic\], got float64 \(2, 3\)"):
            runner.infer({"X": np.zeros((2, 3))})
        with pytest.raises(InputError, match=r"got float32 \(2, 4\) \(axis 1 has size 4, expected 3\)"):
            runner.infer({"X": np.zeros((2, 4), np.float32)})
        with pytest.raises(InputError, match=r"got float32 \(3,\) \(rank 1 is not 2\)"):
            runner.infer({"X": np.zeros(3, np.float32)})
        with pytest.raises(InputError, match=r"missing input 'X' float32 \(N, 3\)"):
            runner.infer({})
        with pytest.raises(InputError, match=r"unexpected input 'Z'; the inputs are 'X'"):
            runner.infer({"X": np.zeros((1, 3), np.float32), "Z": np.zeros(1)})
        with pytest.raises(InputError, match="must be a numpy array, got list"):
            runner.infer({"X": [[0.0, 0.0, 0.0]]})


def test_closed_runner_errors(runner_class, affine_model_path):
    with runner_class(affine_model_path) as runner:
        assert runner.is_active
    assert runner.is_closed
    with pytest.raises(InputError, match="is closed"):
        runner.infer({"X": np.zeros((1, 3), np.float32)})


@pytest.mark.parametrize(("option", "value", "message"), [
    ("threads", 0, "threads must be a positive integer"),
    ("threads", 1.5, "threads must be a positive integer"),
    ("batch", 0, "batch must be a positive integer"),
    ("batch", True, "batch must be a positive integer"),
    ("precision", "fp16", "unknown precision 'fp16'; valid: fp32, bf16"),
    ("device", "cuda:0", "runs on the CPU"),
    ("device", "gpu0", "invalid device 'gpu0'"),
])
def test_invalid_options(runner_class, affine_model_path, option, value, message):
    with pytest.raises(InputError, match=message):
        runner_class(affine_model_path, **{option: value})


def test_missing_and_corrupt_files_are_input_errors(runner_class, tmp_path, affine_model_path):
    with pytest.raises(InputError, match="ONNX model not found: .*missing.onnx"):
        runner_class(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf \x00\xff\x13 at all")
    with pytest.raises(InputError, match=r"cannot load ONNX model .*corrupt.onnx with OpenVINO"):
        runner_class(corrupt).activate()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(affine_model_path.read_bytes()[:40])
    with pytest.raises(InputError, match="cannot load ONNX model"):
        runner_class(truncated).activate()


@pytest.mark.torch
def test_torch_tensors_are_not_taken(runner_class, affine_model_path):
    import torch

    with runner_class(affine_model_path) as runner:
        with pytest.raises(InputError, match=r"input 'X' must be a numpy array, got a torch tensor"):
            runner.infer({"X": torch.zeros(1, 3)})


def test_model_cache_is_keyed_by_graph_version_cpu_and_precision(runner_class, affine_model_path, tmp_path):
    from spine_rt.model_package import sha256_file

    with runner_class(affine_model_path, batch=1) as runner:
        folder = runner.cache_folder
        record = json.loads((folder / "cache.json").read_text())
    assert folder.parent == tmp_path / "cache" / "openvino"
    assert record["graph_sha256"] == sha256_file(affine_model_path)
    assert record["openvino_version"] == runner.openvino_version
    assert record["precision"] == "fp32" and record["cpu"] and record["key"] == folder.name
    assert any(path.suffix == ".blob" for path in folder.iterdir())  # OpenVINO wrote its compiled network
    with runner_class(affine_model_path, batch=1) as again:  # the same key: the same folder
        assert again.cache_folder == folder
    with runner_class(affine_model_path, cache_dir=False) as uncached:
        assert uncached.cache_folder is None and uncached.cache_problem == "model cache off"
    with runner_class(affine_model_path, cache_dir=tmp_path / "elsewhere") as elsewhere:
        assert elsewhere.cache_folder.parent == tmp_path / "elsewhere" / "openvino"
        assert elsewhere.cache_folder.name == folder.name


def test_unwritable_cache_is_reported_not_raised(runner_class, affine_model_path, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    with runner_class(affine_model_path, cache_dir=blocker) as runner:
        np.testing.assert_allclose(runner.infer({"X": np.ones((1, 3), np.float32)})["Y"], 3.0)
    assert runner.cache_folder is None and "not writable" in runner.cache_problem


def test_changing_threads_recompiles(runner_class, affine_model_path):
    with runner_class(affine_model_path, batch=1, threads=1) as runner:
        assert list(runner._compiled) == [1]
        runner.threads = 2
        assert runner._compiled == {}
        np.testing.assert_allclose(runner.infer({"X": np.ones((1, 3), np.float32)})["Y"], 3.0)
        (compiled, _, _), = runner._compiled.values()
        assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 2


def test_fp32_is_exact_even_where_openvino_would_default_to_bf16(runner_class, affine_model_path):
    with runner_class(affine_model_path, batch=1) as runner:
        (compiled, _, _), = runner._compiled.values()
        assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"


def test_bf16_without_native_support_is_refused_clearly(without_bf16, runner_class, affine_model_path):
    with pytest.raises(EnvironmentProblem, match=r"precision bf16 needs a CPU with AVX512_BF16 or AMX \(Plain CPU"):
        runner_class(affine_model_path, precision="bf16")


@needs_native_bf16
def test_bf16_computes_in_bf16(runner_class, affine_model_path):
    with runner_class(affine_model_path, precision="bf16", batch=1) as runner:
        (compiled, _, _), = runner._compiled.values()
        assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
        np.testing.assert_allclose(runner.infer({"X": np.ones((1, 3), np.float32)})["Y"], 3.0)
    assert runner.cache_folder.name != runner_class(affine_model_path).activate().cache_folder.name


@pytest.mark.parametrize("batch", [4, 3, 5])
def test_a_batch_cut_into_streams_gives_the_whole_batch_in_order(runner_class, tmp_path, two_output_model, batch):
    """Parts run at once on OpenVINO streams (the last part padded), put back in order: the values of one
    request, outputs copies of the batch's size."""
    path = tmp_path / "two.onnx"
    path.write_bytes(two_output_model)
    rng = np.random.default_rng(batch)
    feed = {"a": rng.standard_normal((batch, 4)).astype(np.float32),
            "steps": rng.integers(0, 9, batch).astype(np.int64)}
    with runner_class(path, streams=1) as whole, runner_class(path, streams=2, threads=2) as cut:
        expected, got = whole.infer(feed), cut.infer(feed)
        compiled, requests, part = cut._compiled[batch]
        assert len(requests) == 2 and part == -(-batch // 2)
        assert int(compiled.get_property("NUM_STREAMS")) == 2
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name].shape == expected[name].shape and got[name].dtype == expected[name].dtype
            np.testing.assert_array_equal(got[name], expected[name])
        kept = {name: value.copy() for name, value in got.items()}
        cut.infer({"a": feed["a"][::-1].copy(), "steps": feed["steps"][::-1].copy()})
        for name in kept:  # copies, not the requests' buffers
            np.testing.assert_array_equal(got[name], kept[name])
        one = cut.infer({name: value[:1] for name, value in feed.items()})  # a batch of one: one request
        assert len(cut._compiled[1][1]) == 1
        np.testing.assert_array_equal(one["sum"], expected["sum"][:1])


def test_default_streams_one_in_fp32_the_threads_in_bf16(runner_class, affine_model_path):
    with runner_class(affine_model_path, threads=2) as runner:
        assert runner.streams is None and runner.streams_for(4) == 1
        runner.streams = 3
        assert runner.streams_for(4) == 3 and runner.streams_for(2) == 2  # at most the batch
        with pytest.raises(InputError, match="streams must be a positive integer"):
            runner.streams = 0
    if NATIVE_BF16:
        with runner_class(affine_model_path, precision="bf16", threads=2) as runner:
            assert runner.streams_for(4) == 2 and runner.streams_for(1) == 1
            np.testing.assert_allclose(runner.infer({"X": np.ones((4, 3), np.float32)})["Y"], 3.0)
            assert len(runner._compiled[4][1]) == 2
