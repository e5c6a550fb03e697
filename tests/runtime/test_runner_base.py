"""The base class: lifecycle, context manager and feed validation, with a numpy runner defined here."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec

IMAGE = TensorSpec("image", (None, 21, 192, 192, 12), np.float32)
STEPS = TensorSpec("steps", (None,), np.int64)


class AddOneRunner(Runner):
    """``out = image + 1``: enough of a backend to exercise the base class."""

    backend = "numpy"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.activations = 0
        self.closes = 0

    def _activate_impl(self):
        self.activations += 1

    def _input_specs_impl(self):
        return (IMAGE, STEPS)

    def _output_specs_impl(self):
        return (TensorSpec("out", (None, 21, 192, 192, 12), np.float32),)

    def _infer_impl(self, feed, stream):
        self.streams = getattr(self, "streams", []) + [stream]
        return {"out": feed["image"] + 1}

    def _close_impl(self):
        self.closes += 1


def image(shape=(2, 21, 192, 192, 12), dtype=np.float32) -> np.ndarray:
    """A read-only view with the shape and dtype but (almost) no memory."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def good_feed(batch: int = 2) -> dict[str, np.ndarray]:
    return {"image": image((batch, 21, 192, 192, 12)), "steps": np.arange(batch, dtype=np.int64)}


def test_activate_and_close_are_idempotent():
    runner = AddOneRunner()
    assert not runner.is_active
    assert runner.activate() is runner
    runner.activate()
    assert runner.activations == 1 and runner.is_active
    runner.close()
    runner.close()
    assert runner.closes == 1 and runner.is_closed and not runner.is_active


def test_close_without_activation_does_not_call_the_backend():
    runner = AddOneRunner()
    runner.close()
    assert runner.closes == 0 and runner.is_closed


def test_context_manager_activates_and_closes():
    with AddOneRunner() as runner:
        assert runner.is_active
        out = runner.infer({"image": np.zeros((1, 21, 192, 192, 12), np.float32), "steps": np.zeros(1, np.int64)})
        assert out["out"].shape == (1, 21, 192, 192, 12) and float(out["out"].max()) == 1.0
    assert runner.is_closed and runner.closes == 1


def test_context_manager_closes_on_error():
    with pytest.raises(RuntimeError):
        with AddOneRunner() as runner:
            raise RuntimeError("inside")
    assert runner.is_closed


def test_infer_and_specs_activate_on_first_use():
    runner = AddOneRunner()
    assert runner.input_specs == (IMAGE, STEPS)
    assert runner.activations == 1
    runner.infer(good_feed())
    assert runner.output_specs[0].name == "out"
    assert runner.activations == 1


@pytest.mark.parametrize("use", ["infer", "activate", "input_specs", "output_specs"])
def test_closed_runner_is_a_clear_error(use):
    runner = AddOneRunner(name="stage2")
    runner.close()
    with pytest.raises(InputError, match=r"AddOneRunner 'stage2' is closed; create a new runner"):
        if use == "infer":
            runner.infer(good_feed())
        elif use == "activate":
            runner.activate()
        else:
            getattr(runner, use)


def test_name_backend_device_for_reports():
    runner = AddOneRunner(name="stage1", device="cuda")
    assert runner.describe() == {"name": "stage1", "backend": "numpy", "device": "cuda:0"}
    assert AddOneRunner().name == "AddOneRunner"
    assert "inactive" in repr(runner)


def test_invalid_device_is_an_input_error():
    with pytest.raises(InputError, match="invalid device 'gpu0'"):
        AddOneRunner(device="gpu0")


def test_wrong_dtype_message_names_the_expected_spec():
    feed = good_feed()
    feed["image"] = image(dtype=np.float64)
    with pytest.raises(InputError) as info:
        AddOneRunner().infer(feed)
    message = str(info.value)
    assert "input 'image' expected float32 (N, 21, 192, 192, 12) [N dynamic], got float64 (2, 21, 192, 192, 12)" in message
    assert "\n" not in message


def test_wrong_static_size_names_the_axis():
    feed = good_feed()
    feed["image"] = image((2, 21, 192, 192, 11))
    with pytest.raises(InputError, match=r"got float32 \(2, 21, 192, 192, 11\) \(axis 4 has size 11, expected 12\)"):
        AddOneRunner().infer(feed)


def test_wrong_rank():
    feed = good_feed()
    feed["steps"] = np.zeros((2, 1), np.int64)
    with pytest.raises(InputError, match=r"input 'steps' expected int64 \(N,\) \[N dynamic\], got int64 \(2, 1\) \(rank 2 is not 1\)"):
        AddOneRunner().infer(feed)


def test_dynamic_dims_take_any_size():
    runner = AddOneRunner()
    runner.infer(good_feed(batch=1))
    runner.infer(good_feed(batch=3))


def test_missing_input_is_named():
    feed = good_feed()
    del feed["steps"]
    with pytest.raises(InputError, match=r"missing input 'steps' int64 \(N,\) \[N dynamic\]"):
        AddOneRunner().infer(feed)


def test_unexpected_input_lists_the_inputs():
    feed = good_feed()
    feed["mask"] = np.zeros(2, np.uint8)
    with pytest.raises(InputError, match=r"unexpected input 'mask'; the inputs are 'image', 'steps'"):
        AddOneRunner().infer(feed)


def test_values_must_be_arrays():
    feed = good_feed()
    feed["steps"] = [0, 1]
    with pytest.raises(InputError, match=r"input 'steps' must be a numpy array, got list"):
        AddOneRunner().infer(feed)


def test_feed_must_be_a_mapping():
    with pytest.raises(InputError, match="the feed must be a dict"):
        AddOneRunner().infer([np.zeros(1)])


def test_check_inputs_false_skips_validation():
    out = AddOneRunner().infer({"image": np.zeros(2, np.float64)}, check_inputs=False)
    assert out["out"].dtype == np.float64


@pytest.mark.torch
def test_torch_tensors_are_rejected_where_the_backend_does_not_take_them():
    import torch

    feed = good_feed()
    feed["steps"] = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(InputError, match=r"input 'steps' must be a numpy array, got a torch tensor"):
        AddOneRunner().infer(feed)


@pytest.mark.torch
def test_torch_tensors_are_validated_like_arrays():
    import torch

    class TorchAddOneRunner(AddOneRunner):
        accepts_torch_tensors = True

    feed = good_feed()
    feed["steps"] = torch.zeros(2, dtype=torch.int32)
    with pytest.raises(
        InputError, match=r"input 'steps' expected int64 \(N,\) \[N dynamic\], got int32 \(2,\) \(torch tensor on cpu\)"
    ):
        TorchAddOneRunner().infer(feed)
    feed["steps"] = torch.zeros(2, dtype=torch.int64)
    TorchAddOneRunner().infer(feed)


def test_infer_is_defined_once_and_forwards_the_stream():
    """``Runner.infer(feed, *, stream=None)`` lives in the base class; every runner only fills ``_infer_impl``."""
    import inspect

    from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from spine_rt.runtime.openvino_runner import OpenVINORunner
    from spine_rt.runtime.tensorrt_runner import TensorRTRunner
    from spine_rt.runtime.torch_runner import TorchRunner
    from spine_rt.runtime.triton_runner import TritonRunner

    for cls in (OnnxRuntimeRunner, OpenVINORunner, TensorRTRunner, TorchRunner, TritonRunner):
        assert cls.infer is Runner.infer, f"{cls.__name__} overrides infer"
        assert "stream" in inspect.signature(cls._infer_impl).parameters, cls.__name__
    assert inspect.signature(Runner.infer).parameters["stream"].kind is inspect.Parameter.KEYWORD_ONLY
    assert TorchRunner.accepts_streams and TensorRTRunner.accepts_streams
    assert not (OnnxRuntimeRunner.accepts_streams or OpenVINORunner.accepts_streams or TritonRunner.accepts_streams)

    runner = AddOneRunner()
    runner.infer(good_feed())
    assert runner.streams == [None]
    with pytest.raises(InputError, match="takes no CUDA stream"):  # a host runner refuses a stream, in one line
        runner.infer(good_feed(), stream=7)
    assert runner.streams == [None]  # nothing ran
