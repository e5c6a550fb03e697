"""TorchRunner on the CPU (and CUDA graphs on a GPU), and parity with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.tensor_spec import TensorSpec

pytestmark = pytest.mark.torch

IMAGE = TensorSpec("image", (None, 2, 8, 8), np.float32)


def tiny_conv():
    """Conv(2 -> 3, 3x3) + ReLU, fixed weights."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU())


def batch(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 2, 8, 8)).astype(np.float32)


def reference(module, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def make_runner(module=None, **kwargs):
    from spine_rt.runtime.torch_runner import TorchRunner

    return TorchRunner(module if module is not None else tiny_conv(), [IMAGE], ["logits"], **kwargs)


class TwoHeads:
    """Modules whose forward returns a tuple or a dict of two tensors."""

    @staticmethod
    def as_tuple():
        import torch

        class Net(torch.nn.Module):
            def forward(self, x, scale):
                return x * scale[:, None], x.sum(dim=1)

        return Net()

    @staticmethod
    def as_dict():
        import torch

        class Net(torch.nn.Module):
            def forward(self, x, scale):
                return {"scaled": x * scale[:, None], "total": x.sum(dim=1), "unused": x}

        return Net()


TWO_INPUTS = [TensorSpec("x", (None, 4), np.float32), TensorSpec("scale", (None,), np.float32)]


def test_fp32_cpu_matches_the_module():
    module = tiny_conv()
    x = batch()
    expected = reference(module, x)
    with make_runner(module) as runner:
        out = runner.infer({"image": x})
    assert list(out) == ["logits"]
    assert isinstance(out["logits"], np.ndarray) and out["logits"].dtype == np.float32
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-6, atol=1e-6)
    assert runner.describe() == {"name": "TorchRunner", "backend": "torch", "device": "cpu"}


def test_specs():
    with make_runner() as runner:
        assert runner.input_specs == (IMAGE,)
        (logits,) = runner.output_specs
    assert logits.name == "logits" and logits.shape is None and logits.dtype is None


def test_fp16_casts_module_and_inputs_and_returns_fp32_numpy():
    import torch

    module = tiny_conv()
    x = batch()
    expected = reference(module, x)
    with make_runner(module, precision="fp16") as runner:
        assert next(runner.module.parameters()).dtype == torch.float16
        out = runner.infer({"image": x})["logits"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=2e-2, atol=2e-2)


def test_torch_tensors_in_give_torch_tensors_out_in_the_runner_precision():
    import torch

    x = torch.from_numpy(batch())
    with make_runner(precision="fp16") as runner:
        out = runner.infer({"image": x})["logits"]
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float16 and out.shape == (2, 3, 8, 8)
    with make_runner() as runner:
        out32 = runner.infer({"image": x})["logits"]
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out.float().numpy(), out32.numpy(), rtol=2e-2, atol=2e-2)


def test_channels_last_gives_the_same_values():
    module = tiny_conv()
    x = batch()
    expected = reference(module, x)
    with make_runner(module, channels_last=True) as runner:
        out = runner.infer({"image": x})["logits"]
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_tuple_outputs_are_mapped_to_names():
    from spine_rt.runtime.torch_runner import TorchRunner

    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    scale = np.array([1.0, 10.0], np.float32)
    with TorchRunner(TwoHeads.as_tuple(), TWO_INPUTS, ["scaled", "total"]) as runner:
        out = runner.infer({"x": x, "scale": scale})
    assert list(out) == ["scaled", "total"]
    np.testing.assert_allclose(out["scaled"], x * scale[:, None])
    np.testing.assert_allclose(out["total"], x.sum(axis=1))


def test_dict_outputs_are_picked_by_name():
    from spine_rt.runtime.torch_runner import TorchRunner

    x = np.ones((3, 4), np.float32)
    with TorchRunner(TwoHeads.as_dict(), TWO_INPUTS, ["total", "scaled"]) as runner:
        out = runner.infer({"x": x, "scale": np.full(3, 2.0, np.float32)})
    assert list(out) == ["total", "scaled"]
    np.testing.assert_allclose(out["total"], np.full(3, 4.0))
    np.testing.assert_allclose(out["scaled"], np.full((3, 4), 2.0))


def test_output_count_mismatch_is_reported():
    from spine_rt.runtime.torch_runner import TorchRunner

    feed = {"x": np.ones((1, 4), np.float32), "scale": np.ones(1, np.float32)}
    with TorchRunner(TwoHeads.as_tuple(), TWO_INPUTS, ["only"]) as runner:
        with pytest.raises(InputError, match="the module returned 2 outputs but 1 output names were given"):
            runner.infer(feed)
    with TorchRunner(TwoHeads.as_dict(), TWO_INPUTS, ["total", "nope"]) as runner:
        with pytest.raises(InputError, match="output dict lacks 'nope'; its keys are 'scaled', 'total', 'unused'"):
            runner.infer(feed)
    with TorchRunner(tiny_conv(), [IMAGE], ["a", "b"]) as runner:
        with pytest.raises(InputError, match="returned one tensor but 2 output names"):
            runner.infer({"image": batch()})


def test_feed_is_validated_for_numpy_and_torch():
    import torch

    with make_runner() as runner:
        with pytest.raises(InputError, match=r"input 'image' expected float32 \(N, 2, 8, 8\) \[N dynamic\], got float64"):
            runner.infer({"image": batch().astype(np.float64)})
        with pytest.raises(InputError, match=r"got float32 \(2, 3, 8, 8\) \(torch tensor on cpu\) \(axis 1"):
            runner.infer({"image": torch.zeros(2, 3, 8, 8)})
        with pytest.raises(InputError, match="missing input 'image'"):
            runner.infer({})


def test_closing_drops_the_module_and_blocks_reuse():
    runner = make_runner()
    with runner:
        runner.infer({"image": batch(1)})
    assert runner.module is None
    with pytest.raises(InputError, match="is closed"):
        runner.infer({"image": batch(1)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(precision="int8"), r"unknown precision 'int8'; valid precisions: fp32, fp16"),
        (dict(cuda_graph=True), "cuda_graph=True needs a CUDA device"),
        (dict(device="gpu0"), "invalid device 'gpu0'"),
    ],
)
def test_invalid_options(kwargs, message):
    with pytest.raises(InputError, match=message):
        make_runner(**kwargs)


def test_invalid_module_and_names():
    from spine_rt.runtime.torch_runner import TorchRunner

    with pytest.raises(InputError, match="needs a torch.nn.Module, got function"):
        TorchRunner(lambda x: x, [IMAGE], ["y"])
    with pytest.raises(InputError, match="input_specs must be a non-empty sequence of TensorSpec"):
        TorchRunner(tiny_conv(), [("image", (1, 2, 8, 8))], ["y"])
    with pytest.raises(InputError, match="output_names must be a non-empty sequence"):
        TorchRunner(tiny_conv(), [IMAGE], [])
    with pytest.raises(InputError, match="duplicate output names: y"):
        TorchRunner(tiny_conv(), [IMAGE], ["y", "y"])


def test_cuda_device_without_cuda_is_an_environment_problem():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(EnvironmentProblem, match="sees no CUDA device"):
        make_runner(device="cuda:0")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torch_and_onnxruntime_agree_on_an_exported_conv():
    import torch

    from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

    module = tiny_conv().eval()
    example = torch.from_numpy(batch(1))
    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        external_data=False,
        verbose=False,
    )
    onnx_bytes = program.model_proto.SerializeToString()
    x = batch(3, seed=1)
    with OnnxRuntimeRunner(onnx_bytes, threads=1) as ort_runner:
        assert ort_runner.input_specs == (IMAGE,)
        from_ort = ort_runner.infer({"image": x})["logits"]
    with make_runner(module) as torch_runner:
        from_torch = torch_runner.infer({"image": x})["logits"]
    np.testing.assert_allclose(from_torch, from_ort, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- GPU only
@pytest.mark.gpu
def test_cuda_fp16_matches_cpu_fp32():
    module = tiny_conv()
    x = batch()
    expected = reference(module, x)
    with make_runner(module, device="cuda:0", precision="fp16", channels_last=True) as runner:
        out = runner.infer({"image": x})["logits"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=2e-2, atol=2e-2)


@pytest.mark.gpu
def test_cuda_graph_is_captured_once_per_shape_and_replayed():
    import torch

    module = tiny_conv()
    cpu_module = tiny_conv()  # same seed, same weights, stays on the CPU
    with make_runner(module, device="cuda:0", cuda_graph=True) as runner:
        for seed in range(3):
            x = batch(2, seed=seed)
            np.testing.assert_allclose(runner.infer({"image": x})["logits"], reference(cpu_module, x), rtol=1e-4, atol=1e-4)
        assert runner.captured_graph_count == 1
        x = batch(5, seed=7)
        np.testing.assert_allclose(runner.infer({"image": x})["logits"], reference(cpu_module, x), rtol=1e-4, atol=1e-4)
        assert runner.captured_graph_count == 2

        # torch tensors in: outputs are copies, not the graph's static buffers
        first = runner.infer({"image": torch.from_numpy(batch(2, seed=10)).cuda()})["logits"]
        kept = first.clone()
        runner.infer({"image": torch.from_numpy(batch(2, seed=11)).cuda()})
        assert first.is_cuda and torch.equal(first, kept)
        assert runner.captured_graph_count == 2


def test_cuda_graphs_are_captured_in_thread_local_mode():
    """Global mode (torch's default) makes another thread's CUDA calls fail or break the capture."""
    import inspect

    import torch

    from spine_rt.runtime.torch_runner import CUDA_GRAPH_CAPTURE_ERROR_MODE

    assert CUDA_GRAPH_CAPTURE_ERROR_MODE == "thread_local"
    assert "capture_error_mode" in inspect.signature(torch.cuda.graph).parameters


@pytest.mark.gpu
def test_another_thread_may_use_cuda_while_a_graph_is_captured():
    import threading

    import torch

    capturing, other_done = threading.Event(), threading.Event()

    class WaitsDuringCapture(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tiny_conv()

        def forward(self, x):
            if torch.cuda.is_current_stream_capturing():
                capturing.set()
                other_done.wait(30)
            return self.conv(x)

    errors = []

    def other_thread():
        capturing.wait(30)
        try:
            torch.ones(4, device="cuda:0").sum().item()  # a synchronous copy: forbidden during a global capture
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        other_done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    cpu_module = tiny_conv()
    with make_runner(WaitsDuringCapture(), device="cuda:0", cuda_graph=True) as runner:
        x = batch(2)
        out = runner.infer({"image": x})["logits"]
    worker.join(60)
    assert errors == []
    np.testing.assert_allclose(out, reference(cpu_module, x), rtol=1e-4, atol=1e-4)


def test_a_cuda_stream_on_a_cpu_runner_is_refused():
    with make_runner() as runner:
        with pytest.raises(InputError, match="needs a CUDA device"):
            runner.infer({"image": batch()}, stream=1)


@pytest.mark.gpu
def test_infer_queues_its_work_on_the_given_stream():
    """``infer(feed, stream=s)`` runs the module with ``s`` current: the output's producer is that stream."""
    import torch

    seen = []

    class Records(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tiny_conv()

        def forward(self, x):
            seen.append(torch.cuda.current_stream().cuda_stream)
            return self.conv(x)

    side = torch.cuda.Stream(device="cuda:0")
    cpu_module = tiny_conv()
    with make_runner(Records(), device="cuda:0") as runner:
        x = torch.from_numpy(batch()).cuda()
        out = runner.infer({"image": x}, stream=side)["logits"]
        side.synchronize()
        runner.infer({"image": x}, stream=side.cuda_stream)  # an int handle is wrapped, not owned
    assert seen == [side.cuda_stream, side.cuda_stream]
    np.testing.assert_allclose(out.cpu().numpy(), reference(cpu_module, batch()), rtol=1e-4, atol=1e-4)
