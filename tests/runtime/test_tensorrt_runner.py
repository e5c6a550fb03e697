"""TensorRTRunner: type mapping and argument checks here; engine runs where TensorRT and a GPU are present.

The ``tensorrt`` + ``gpu`` tests build tiny engines from the ONNX models of
``tests/runtime/conftest.py`` and check numpy and torch feeds, caller
streams, CUDA graphs and profile limits. They are skipped (visibly) where
TensorRT, cuda-python or a GPU are absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.dependencies import is_available
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.cuda_memory import DeviceBuffer
from spine_rt.runtime.tensorrt_runner import (
    TENSORRT_TO_NUMPY,
    TensorRTRunner,
    byte_size,
    numpy_dtype_for_tensorrt,
    shape_from_dims,
)


# ----------------------------------------------------------------------------- no TensorRT needed
@pytest.mark.parametrize(
    ("tensorrt_name", "numpy_name"),
    [("FLOAT", "float32"), ("HALF", "float16"), ("INT8", "int8"), ("INT32", "int32"), ("INT64", "int64"),
     ("BOOL", "bool"), ("UINT8", "uint8")],
)
def test_dtype_mapping(tensorrt_name, numpy_name):
    assert numpy_dtype_for_tensorrt(tensorrt_name) == np.dtype(numpy_name)
    assert TENSORRT_TO_NUMPY[tensorrt_name] == numpy_name


@pytest.mark.parametrize("tensorrt_name", ["BF16", "FP8", "INT4", "FP4"])
def test_types_numpy_lacks_are_refused(tensorrt_name):
    with pytest.raises(InputError, match=f"'probabilities'.* has TensorRT type {tensorrt_name}"):
        numpy_dtype_for_tensorrt(tensorrt_name, "engine tensor 'probabilities'")


def test_shapes_and_sizes():
    assert shape_from_dims([-1, 21, 192, 192, 12]) == (None, 21, 192, 192, 12)
    assert shape_from_dims(()) == ()
    assert byte_size((2, 3, 4), np.dtype(np.float16)) == 48
    assert byte_size((0, 3), np.dtype(np.float32)) == 0


def test_missing_engine_file(tmp_path):
    with pytest.raises(InputError, match="TensorRT engine not found"):
        TensorRTRunner(tmp_path / "missing.plan")


def test_cpu_device_is_refused():
    with pytest.raises(InputError, match="runs only on CUDA devices"):
        TensorRTRunner(b"plan", device="cpu")


def test_cuda_graph_on_the_default_stream_is_refused():
    with pytest.raises(InputError, match="cannot capture on the default stream 0"):
        TensorRTRunner(b"plan", stream=0, cuda_graph=True)


def test_unusable_stream_object_is_refused():
    with pytest.raises(InputError, match="cannot read a CUDA stream handle from str"):
        TensorRTRunner(b"plan", stream="fast")


def test_name_and_backend(tmp_path):
    plan = tmp_path / "stage2.plan"
    plan.write_bytes(b"plan")
    runner = TensorRTRunner(plan, device="cuda:1")
    assert runner.describe() == {"name": "stage2.plan", "backend": "tensorrt", "device": "cuda:1"}
    assert not runner.is_active


def test_exported_from_the_runtime_package():
    import spine_rt.runtime

    assert spine_rt.runtime.TensorRTRunner is TensorRTRunner


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_activation_without_tensorrt_gives_the_install_hint():
    runner = TensorRTRunner(b"plan")
    with pytest.raises(EnvironmentProblem, match=r"needs tensorrt, which is not installed.*pypi.nvidia.com"):
        runner.activate()
    assert not runner.is_active


# ----------------------------------------------------------------------------- TensorRT + GPU
@pytest.fixture(scope="module")
def tensorrt_stack():
    """Skips unless tensorrt and cuda-python import (the markers cover TensorRT and the GPU)."""
    pytest.importorskip("tensorrt")
    pytest.importorskip("cuda.bindings")


def _engine(onnx_path, name: str, low: int = 1, opt: int = 4, high: int = 8, width: int = 3) -> bytes:
    from spine_rt.engines import ShapeRange
    from spine_rt.engines.tensorrt_build import build_serialized_engine

    return build_serialized_engine(onnx_path, [ShapeRange(name, (low, width), (opt, width), (high, width))])


@pytest.fixture(scope="module")
def affine_engine(tensorrt_stack, affine_model_path) -> bytes:
    """``Y = 2 X + 1`` on X float32 (N, 3), N in 1..8."""
    return _engine(affine_model_path, "X")


def _inputs(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3)).astype(np.float32)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_specs_come_from_the_engine(affine_engine):
    with TensorRTRunner(affine_engine) as runner:
        (x,) = runner.input_specs
        (y,) = runner.output_specs
        assert (x.name, x.shape, x.dtype) == ("X", (None, 3), np.float32)
        assert (y.name, y.shape, y.dtype) == ("Y", (None, 3), np.float32)
        assert runner.profile_range("X") == ((1, 3), (8, 3))


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_numpy_feed_and_growing_batches(affine_engine, tmp_path):
    plan = tmp_path / "affine.plan"
    plan.write_bytes(affine_engine)
    with TensorRTRunner(plan) as runner:
        for batch in (2, 5, 1, 8):  # buffers grow at 5 and 8, are reused at 1
            x = _inputs(batch, seed=batch)
            y = runner.infer({"X": x})["Y"]
            assert isinstance(y, np.ndarray) and y.shape == (batch, 3) and y.dtype == np.float32
            np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_batch_outside_the_profile_is_an_input_error(affine_engine):
    with TensorRTRunner(affine_engine) as runner:
        with pytest.raises(InputError, match=r"input 'X' has shape \(9, 3\), outside the engine's profile"):
            runner.infer({"X": _inputs(9)})


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_torch_feed_is_bound_in_place_and_returns_torch(affine_engine):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_inputs(4)).cuda()
    with TensorRTRunner(affine_engine) as runner:
        y = runner.infer({"X": x})["Y"]
        assert isinstance(y, torch.Tensor) and y.is_cuda and y.shape == (4, 3)
        torch.testing.assert_close(y, 2 * x + 1)
        assert runner._slots[runner.stream].bound["X"] is x  # the caller's tensor itself, referenced
        non_contiguous = torch.from_numpy(_inputs(6).T.copy()).cuda().T  # (6, 3) with transposed strides
        torch.testing.assert_close(runner.infer({"X": non_contiguous})["Y"], 2 * non_contiguous + 1)
        on_host = torch.from_numpy(_inputs(3))
        torch.testing.assert_close(runner.infer({"X": on_host})["Y"].cpu(), 2 * on_host + 1)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_caller_streams_get_their_own_context(affine_engine):
    torch = pytest.importorskip("torch")
    side = torch.cuda.Stream()
    x = torch.from_numpy(_inputs(4)).cuda()
    with TensorRTRunner(affine_engine, stream=side) as runner:
        assert runner.stream == side.cuda_stream
        with torch.cuda.stream(side):
            y = runner.infer({"X": x})["Y"]
        other = torch.cuda.Stream()
        with torch.cuda.stream(other):
            z = runner.infer({"X": x}, stream=other)["Y"]
        torch.cuda.synchronize()
        torch.testing.assert_close(y, z)
        assert len(runner._slots) == 2
        np.testing.assert_allclose(runner.infer({"X": x.cpu().numpy()}, stream=other.cuda_stream)["Y"],
                                   (2 * x + 1).cpu().numpy(), rtol=1e-6)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_cuda_graph_replays_equal_the_plain_path(affine_engine):
    torch = pytest.importorskip("torch")
    with TensorRTRunner(affine_engine) as plain, TensorRTRunner(affine_engine, cuda_graph=True) as graphed:
        for batch, seed in ((4, 0), (4, 1), (2, 2), (4, 3)):
            x = _inputs(batch, seed)
            np.testing.assert_array_equal(graphed.infer({"X": x})["Y"], plain.infer({"X": x})["Y"])
        assert graphed.captured_graph_count == 2  # one per input shape
        x = torch.from_numpy(_inputs(4, 9)).cuda()
        torch.testing.assert_close(graphed.infer({"X": x})["Y"], plain.infer({"X": x})["Y"], rtol=0, atol=0)
        assert graphed.captured_graph_count == 2


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_buffers_of_a_graph_whose_staging_fails_are_freed(affine_engine):
    with TensorRTRunner(affine_engine, cuda_graph=True) as graphed:
        bad = np.array([["a", "b", "c"], ["d", "e", "f"]])  # cannot be staged as float32
        with pytest.raises(ValueError):
            graphed.infer({"X": bad}, check_inputs=False)
        assert graphed.captured_graph_count == 0
        (slot,) = graphed._slots.values()
        assert not any(isinstance(owner, DeviceBuffer) for owner in slot.bound.values())  # nothing kept alive
        x = _inputs(2)
        np.testing.assert_allclose(graphed.infer({"X": x})["Y"], 2 * x + 1, rtol=1e-6)
        assert graphed.captured_graph_count == 1


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_two_inputs_with_int64(tensorrt_stack, two_output_model, tmp_path):
    from spine_rt.engines import ShapeRange
    from spine_rt.engines.tensorrt_build import build_serialized_engine

    path = tmp_path / "two.onnx"
    path.write_bytes(two_output_model)
    plan = build_serialized_engine(path, [ShapeRange("a", (1, 4), (2, 4), (4, 4)), ShapeRange("steps", (1,), (2,), (4,))])
    a = _inputs(3).repeat(2, axis=1)[:, :4].copy()
    steps = np.array([1, 5, 9], dtype=np.int64)
    with TensorRTRunner(plan) as runner:
        out = runner.infer({"a": a, "steps": steps})
    np.testing.assert_allclose(out["sum"], a + a, rtol=1e-6)
    np.testing.assert_array_equal(out["count"], steps + 1)


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_close_releases_and_refuses_further_use(affine_engine):
    runner = TensorRTRunner(affine_engine).activate()
    runner.infer({"X": _inputs(2)})
    runner.close()
    assert runner._slots == {} and runner._engine is None
    with pytest.raises(InputError, match="is closed"):
        runner.infer({"X": _inputs(2)})


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_garbage_plan_is_an_input_error_with_the_rebuild_hint(tensorrt_stack):
    with pytest.raises(InputError, match="cannot load the engine <bytes>.*spine-rt build-engine PKG --rebuild"):
        TensorRTRunner(b"\0" * 64).activate()


# ----------------------------------------------------------------------------- torch interop (CPU torch is enough)
@pytest.mark.torch
def test_torch_helpers_on_cpu_tensors():
    import torch

    from spine_rt.runtime.torch_cuda_tensors import host_array, is_bindable_cuda_tensor, tensor_address

    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert not is_bindable_cuda_tensor(tensor, 0)  # host memory is never handed to TensorRT
    assert tensor_address(tensor) == tensor.data_ptr()
    np.testing.assert_array_equal(host_array(tensor), np.arange(6, dtype=np.float32).reshape(2, 3))


def test_a_static_input_needs_no_optimization_profile_entry():
    """An engine built without profiles has no entry to ask for; the static shape is the range."""
    from spine_rt.runtime.tensor_spec import TensorSpec
    from spine_rt.runtime.tensorrt_runner import _profile_range

    no_engine_needed = None  # the engine must not be asked about a static input
    assert _profile_range(no_engine_needed, TensorSpec("X", (2, 3), "float32")) == ((2, 3), (2, 3))


def test_release_waits_for_the_runner_lock():
    """Closing must not release the slots while another thread holds the lock (making a slot)."""
    import threading

    runner = TensorRTRunner(b"plan bytes, never loaded")
    finished = threading.Event()

    def release():
        try:
            runner._close_impl()  # raises here (no cuda-python / GPU), but only once it holds the lock
        except Exception:
            pass
        finished.set()

    with runner._lock:
        worker = threading.Thread(target=release)
        worker.start()
        assert not finished.wait(0.2)  # still waiting for the lock
    assert finished.wait(10)
    worker.join()


def test_zero_copy_needs_tensorrt_256_byte_alignment():
    from spine_rt.runtime.torch_cuda_tensors import TENSORRT_ADDRESS_ALIGNMENT, is_aligned

    assert TENSORRT_ADDRESS_ALIGNMENT == 256
    assert is_aligned(0) and is_aligned(0x7F0000000000) and is_aligned(512 * 3)
    assert not is_aligned(0x7F0000000004)  # t[1:] of a float32 tensor
    assert not is_aligned(0x7F0000000080)  # 128 bytes: enough for torch's kernels, not for TensorRT


@pytest.mark.torch
@pytest.mark.gpu
def test_an_unaligned_cuda_view_is_not_bound_in_place():
    import torch

    from spine_rt.runtime.torch_cuda_tensors import is_bindable_cuda_tensor

    base = torch.zeros(1024, dtype=torch.float32, device="cuda:0")
    assert is_bindable_cuda_tensor(base, 0)
    view = base[1:]  # contiguous, on the device, 4 bytes past an aligned address
    assert view.is_contiguous() and not is_bindable_cuda_tensor(view, 0)
    assert is_bindable_cuda_tensor(base[64:], 0)  # 256 bytes past: aligned again


@pytest.mark.torch
def test_torch_names_the_runner_relies_on_exist():
    import torch

    assert callable(torch.cuda.ExternalStream) and callable(torch.cuda.current_stream)
    for method in ("record_stream", "data_ptr", "is_contiguous", "contiguous", "detach", "to"):
        assert hasattr(torch.Tensor, method), method
    assert hasattr(torch.Tensor, "is_cuda")
