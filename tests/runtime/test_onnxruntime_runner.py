from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner
from spine_rt.runtime.tensor_spec import TensorSpec


def test_affine_model_values_and_dynamic_batch(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path, threads=1) as runner:
        for batch in (1, 4):
            x = np.arange(batch * 3, dtype=np.float32).reshape(batch, 3)
            out = runner.infer({"X": x})
            assert list(out) == ["Y"]
            np.testing.assert_allclose(out["Y"], 2 * x + 1)


def test_specs_come_from_the_session_with_symbolic_dims_as_none(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path) as runner:
        (x,) = runner.input_specs
        (y,) = runner.output_specs
    assert x == TensorSpec("X", (None, 3), np.float32)
    assert y == TensorSpec("Y", (None, 3), np.float32)
    assert x.describe() == "float32 (N, 3) [N dynamic]"


def test_two_output_model_from_bytes(two_output_model):
    with OnnxRuntimeRunner(two_output_model, threads=1) as runner:
        assert [s.name for s in runner.input_specs] == ["a", "steps"]
        assert [s.name for s in runner.output_specs] == ["sum", "count"]
        assert runner.output_specs[1] == TensorSpec("count", (None,), np.int64)
        assert runner.input_specs[0].describe() == "float32 (batch, 4) [batch dynamic]"
        a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        out = runner.infer({"a": a, "steps": np.array([0, 5, 7], np.int64)})
    assert list(out) == ["sum", "count"]
    np.testing.assert_allclose(out["sum"], a + a)
    np.testing.assert_array_equal(out["count"], [1, 6, 8])
    assert runner.name == "OnnxRuntimeRunner" and runner.source == "<bytes>"


def test_non_contiguous_input(affine_model_path):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1:]
    assert not x.flags.c_contiguous
    with OnnxRuntimeRunner(affine_model_path) as runner:
        np.testing.assert_allclose(runner.infer({"X": x})["Y"], 2 * x + 1)


def test_validation_errors_name_the_spec(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path) as runner:
        with pytest.raises(InputError, match=r"input 'X' expected float32 \(N, 3\) \[N dynamic\], got float64 \(2, 3\)"):
            runner.infer({"X": np.zeros((2, 3))})
        with pytest.raises(InputError, match=r"got float32 \(2, 4\) \(axis 1 has size 4, expected 3\)"):
            runner.infer({"X": np.zeros((2, 4), np.float32)})
        with pytest.raises(InputError, match=r"got float32 \(3,\) \(rank 1 is not 2\)"):
            runner.infer({"X": np.zeros(3, np.float32)})
        with pytest.raises(InputError, match=r"missing input 'X' float32 \(N, 3\)"):
            runner.infer({})
        with pytest.raises(InputError, match=r"unexpected input 'Z'; the inputs are 'X'"):
            runner.infer({"X": np.zeros((1, 3), np.float32), "Z": np.zeros(1)})


def test_messages_name_the_runner(affine_model_path):
    runner = OnnxRuntimeRunner(affine_model_path)
    assert runner.name == "affine.onnx"
    with pytest.raises(InputError, match=r"^OnnxRuntimeRunner 'affine.onnx': input 'X'"):
        runner.infer({"X": np.zeros((1, 3), np.int64)})
    runner.close()


def test_context_manager_closes_and_closed_runner_errors(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path) as runner:
        assert runner.is_active
    assert runner.is_closed
    with pytest.raises(InputError, match="is closed"):
        runner.infer({"X": np.zeros((1, 3), np.float32)})


def test_threads_option_reaches_the_session(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path, threads=2) as runner:
        assert runner.session.get_session_options().intra_op_num_threads == 2
        assert runner.providers == ["CPUExecutionProvider"]


def test_sessions_flush_denormals_to_zero(affine_model_path):
    """Stage two's attention softmax underflows into denormal floats on real inputs; without FTZ/DAZ its
    batched matrix product ran 5x slower (benchmarks/RESULTS.md, "Denormal floats in stage two")."""
    from spine_rt.runtime.onnxruntime_runner import DENORMALS_AS_ZERO

    with OnnxRuntimeRunner(affine_model_path, threads=2) as runner:
        assert runner.session.get_session_options().get_session_config_entry(DENORMALS_AS_ZERO) == "1"


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_invalid_thread_count(affine_model_path, threads):
    with pytest.raises(InputError, match="threads must be a positive integer"):
        OnnxRuntimeRunner(affine_model_path, threads=threads)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="ONNX model not found: .*missing.onnx"):
        OnnxRuntimeRunner(tmp_path / "missing.onnx")


def test_corrupt_file_is_an_input_error(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"this is not a protobuf \x00\xff\x13 at all")
    runner = OnnxRuntimeRunner(path)
    with pytest.raises(InputError, match=r"cannot load ONNX model .*corrupt.onnx"):
        runner.activate()


def test_corrupt_bytes_are_an_input_error():
    with pytest.raises(InputError, match=r"cannot load ONNX model <bytes>"):
        OnnxRuntimeRunner(b"\x08\x07garbage").activate()


def test_truncated_model_is_an_input_error(affine_model_path, tmp_path):
    path = tmp_path / "truncated.onnx"
    path.write_bytes(affine_model_path.read_bytes()[:40])
    with pytest.raises(InputError, match="cannot load ONNX model"):
        OnnxRuntimeRunner(path).activate()


def test_unknown_providers_value(affine_model_path):
    with pytest.raises(InputError, match=r"unknown providers 'tpu'; valid values: None, cpu, cuda"):
        OnnxRuntimeRunner(affine_model_path, providers="tpu")


def test_providers_and_device_must_agree(affine_model_path):
    with pytest.raises(InputError, match="providers='cpu' conflicts with device='cuda:0'"):
        OnnxRuntimeRunner(affine_model_path, providers="cpu", device="cuda:0")
    with pytest.raises(InputError, match="providers='cuda' conflicts with device='cpu'"):
        OnnxRuntimeRunner(affine_model_path, providers="cuda", device="cpu")


def test_invalid_device_string(affine_model_path):
    with pytest.raises(InputError, match="invalid device 'gpu0'"):
        OnnxRuntimeRunner(affine_model_path, device="gpu0")


def _has_cuda_provider() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.skipif(_has_cuda_provider(), reason="this onnxruntime has the CUDA provider")
@pytest.mark.parametrize(("providers", "device"), [(None, "cuda:1"), ("cuda", None), (None, "cuda")])
def test_cuda_without_the_cuda_provider_never_falls_back_to_cpu(affine_model_path, providers, device):
    with pytest.raises(EnvironmentProblem, match="pip install onnxruntime-gpu"):
        OnnxRuntimeRunner(affine_model_path, providers=providers, device=device)


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda_provider(), reason="onnxruntime-gpu is not installed")
def test_cuda_provider_runs_on_the_gpu(affine_model_path):
    with OnnxRuntimeRunner(affine_model_path, device="cuda:0") as runner:
        assert runner.providers[0] == "CUDAExecutionProvider"
        x = np.ones((2, 3), np.float32)
        np.testing.assert_allclose(runner.infer({"X": x})["Y"], 3 * x)


@pytest.mark.torch
def test_torch_tensors_are_not_taken(affine_model_path):
    import torch

    with OnnxRuntimeRunner(affine_model_path) as runner:
        with pytest.raises(InputError, match=r"input 'X' must be a numpy array, got a torch tensor"):
            runner.infer({"X": torch.zeros(1, 3)})


def test_unknown_operator_is_an_input_error():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["X"], ["Y"])],
        "unknown_op",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(InputError, match="No Op registered for NoSuchOp"):
        OnnxRuntimeRunner(model.SerializeToString()).activate()
