"""``TorchRunner``: runs a PyTorch ``nn.Module`` as a runner (CPU or CUDA, fp32 or fp16).

torch is imported when a ``TorchRunner`` is created, never when this module
is imported, so ``import spine_rt.runtime`` works without torch.

Inputs and outputs:

* Inputs are passed to ``module.forward`` positionally, in the order of
  ``input_specs``. They may be numpy arrays or torch tensors (tensors on the
  runner's device are used without a copy; others are copied there).
* With ``precision="fp16"`` the module's floating parameters are cast to
  float16 and so are floating inputs.
* Outputs (one tensor, a tuple/list, or a dict) are mapped to
  ``output_names``. If any input was a torch tensor, outputs are returned as
  torch tensors on the device in the module's precision (float16 under fp16);
  otherwise as numpy arrays on the host, with float16 outputs cast to float32.
  Returned tensors are inference tensors (``torch.inference_mode``).

The module is put in eval mode and moved to the device / precision / memory
format *in place* on activation (``nn.Module.to`` works in place); pass a
copy to keep the original.

CUDA graphs (``cuda_graph=True``, CUDA devices only): on the first call with
a given set of input shapes and dtypes the module is warmed up on a side
stream, then captured into a ``torch.cuda.CUDAGraph`` with static input
buffers; later calls with the same shapes copy the inputs into those buffers
and replay the graph. Each distinct shape keeps its own graph and memory
pool, so use it with fixed patch/batch shapes. The module must be
capturable (no host synchronisation, no data-dependent shapes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.backends import GRAPH_PRECISIONS
from spine_rt.runtime.devices import cuda_index
from spine_rt.runtime.feed_validation import is_torch_tensor
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec

#: forward passes on a side stream before a CUDA graph is captured (lazy init, cuDNN autotuning).
CUDA_GRAPH_WARMUP_RUNS = 3
#: ``torch.cuda.graph(capture_error_mode=...)``: only this thread's unsafe CUDA calls break a capture,
#: so another thread (another runner, the host's ROI step) may keep working while a graph is captured
CUDA_GRAPH_CAPTURE_ERROR_MODE = "thread_local"


@dataclass
class _CapturedGraph:
    """A CUDA graph with the input buffers it reads and the outputs it writes."""

    graph: Any  # torch.cuda.CUDAGraph
    static_inputs: list[Any]  # torch.Tensor, one per input spec
    static_outputs: Any  # what the module returned during capture


class TorchRunner(Runner):
    """Run an ``nn.Module``.

    Args:
        module: the network; ``forward`` takes the inputs positionally.
        input_specs: names, shapes (``None`` = dynamic) and dtypes of the inputs,
            in ``forward``'s argument order.
        output_names: names for the module's outputs, in the order it returns
            them (tuple/list), or the keys to take from a returned dict.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"`` or ``"fp16"``.
        cuda_graph: capture and replay CUDA graphs per input shape (CUDA only).
        channels_last: use channels-last memory format for 4-D/5-D parameters and inputs.
        name: name in reports.

    Raises:
        InputError: an invalid option, ``module`` not an ``nn.Module``,
            ``cuda_graph`` on the CPU, duplicate names.
        EnvironmentProblem: torch is not installed, or the CUDA device is not visible to torch.
    """

    backend = "torch"
    accepts_torch_tensors = True
    accepts_streams = True

    def __init__(
        self,
        module: Any,
        input_specs: Sequence[TensorSpec],
        output_names: Sequence[str],
        device: str = "cpu",
        precision: str = "fp32",
        cuda_graph: bool = False,
        channels_last: bool = False,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, device=device)
        torch = require("torch", "TorchRunner")
        if not isinstance(module, torch.nn.Module):
            raise InputError(f"TorchRunner needs a torch.nn.Module, got {type(module).__name__}")
        if precision not in GRAPH_PRECISIONS:  # torch computes in the graph precisions
            raise InputError(f"unknown precision {precision!r}; valid precisions: {', '.join(GRAPH_PRECISIONS)}")
        specs = tuple(input_specs)
        if not specs or not all(isinstance(spec, TensorSpec) for spec in specs):
            raise InputError("input_specs must be a non-empty sequence of TensorSpec")
        outputs = tuple(output_names)
        if not outputs or not all(isinstance(out, str) and out for out in outputs):
            raise InputError("output_names must be a non-empty sequence of strings")
        for kind, names in (("input", [s.name for s in specs]), ("output", list(outputs))):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise InputError(f"duplicate {kind} names: {', '.join(duplicates)}")
        index = cuda_index(self.device)
        if cuda_graph and index is None:
            raise InputError("cuda_graph=True needs a CUDA device (device='cuda:N')")
        if index is not None:
            if not torch.cuda.is_available():
                raise EnvironmentProblem(
                    f"TorchRunner on {self.device}: torch {torch.__version__} sees no CUDA device; "
                    "install a CUDA build of torch and check that nvidia-smi lists the GPU, or use device='cpu'"
                )
            count = torch.cuda.device_count()
            if index >= count:
                raise EnvironmentProblem(f"TorchRunner on {self.device}: torch sees only {count} CUDA device(s)")

        self._module = module
        self._inputs = specs
        self._outputs = tuple(TensorSpec(out, None, None) for out in outputs)
        self.precision = precision
        self.cuda_graph = bool(cuda_graph)
        self.channels_last = bool(channels_last)
        self._graphs: dict[tuple, _CapturedGraph] = {}

    @property
    def module(self) -> Any:
        """The wrapped ``nn.Module`` (on the runner's device and precision once active)."""
        return self._module

    @property
    def captured_graph_count(self) -> int:
        """How many CUDA graphs (one per distinct input shape) have been captured."""
        return len(self._graphs)

    # ----------------------------------------------------------------- hooks
    def _activate_impl(self) -> None:
        import torch

        if self._module is None:
            raise InputError(f"{self._label()} has no module")
        dtype = torch.float16 if self.precision == "fp16" else torch.float32
        self._module.eval()
        self._module.to(device=torch.device(self.device), dtype=dtype)
        if self.channels_last:
            with torch.no_grad():
                for parameter in self._module.parameters():
                    memory_format = _channels_last_format(torch, parameter.dim())
                    if memory_format is not None:
                        parameter.data = parameter.data.contiguous(memory_format=memory_format)

    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _infer_impl(self, feed: Mapping[str, Any], stream: Any) -> dict[str, Any]:
        import torch

        return_tensors = any(is_torch_tensor(value) for value in feed.values())
        index = cuda_index(self.device)
        if stream is not None and index is None:
            raise InputError(f"{self._label()} runs on {self.device}; a CUDA stream needs a CUDA device")
        on_stream = nullcontext() if stream is None else torch.cuda.stream(_torch_stream(torch, stream, self.device))
        with torch.inference_mode(), (torch.cuda.device(index) if index is not None else nullcontext()), on_stream:
            inputs = [self._prepare(torch, feed[spec.name]) for spec in self._inputs]
            if self.cuda_graph:
                raw_outputs = self._replay_graph(torch, inputs)
            else:
                raw_outputs = self._module(*inputs)
            named = self._name_outputs(torch, raw_outputs)
            if return_tensors:
                # graph outputs live in static buffers that the next replay overwrites
                return {n: t.clone() for n, t in named.items()} if self.cuda_graph else named
            return {n: self._to_numpy(torch, t) for n, t in named.items()}

    def _close_impl(self) -> None:
        self._graphs.clear()
        self._module = None

    # ----------------------------------------------------------------- helpers
    def _prepare(self, torch, value: Any) -> Any:
        """One input as a tensor on the device, in the runner's precision and memory format."""
        tensor = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        tensor = tensor.to(device=self.device)
        if self.precision == "fp16" and tensor.is_floating_point():
            tensor = tensor.to(torch.float16)
        if self.channels_last:
            memory_format = _channels_last_format(torch, tensor.dim())
            if memory_format is not None:
                tensor = tensor.contiguous(memory_format=memory_format)
        return tensor

    def _replay_graph(self, torch, inputs: list[Any]) -> Any:
        key = tuple((tuple(t.shape), t.dtype, t.stride()) for t in inputs)
        captured = self._graphs.get(key)
        if captured is None:
            captured = self._capture_graph(torch, inputs)
            self._graphs[key] = captured
        else:
            for static, new in zip(captured.static_inputs, inputs):
                static.copy_(new)
        captured.graph.replay()
        return captured.static_outputs

    def _capture_graph(self, torch, inputs: list[Any]) -> _CapturedGraph:
        """Warm up on a side stream, then capture one forward pass over static copies of ``inputs``."""
        static_inputs = [t.clone() for t in inputs]
        current = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            for _ in range(CUDA_GRAPH_WARMUP_RUNS):
                self._module(*static_inputs)
        current.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode=CUDA_GRAPH_CAPTURE_ERROR_MODE):
            static_outputs = self._module(*static_inputs)
        return _CapturedGraph(graph, static_inputs, static_outputs)

    def _name_outputs(self, torch, outputs: Any) -> dict[str, Any]:
        """Map what ``forward`` returned (tensor, tuple/list or dict) to the output names."""
        names = [spec.name for spec in self._outputs]
        if isinstance(outputs, torch.Tensor):
            if len(names) != 1:
                raise InputError(
                    f"{self._label()}: the module returned one tensor but {len(names)} output names were given"
                )
            return {names[0]: outputs}
        if isinstance(outputs, Mapping):
            missing = [n for n in names if n not in outputs]
            if missing:
                raise InputError(
                    f"{self._label()}: the module's output dict lacks {', '.join(map(repr, missing))}; "
                    f"its keys are {', '.join(map(repr, outputs))}"
                )
            return {n: outputs[n] for n in names}
        if isinstance(outputs, (tuple, list)):
            if len(outputs) != len(names):
                raise InputError(
                    f"{self._label()}: the module returned {len(outputs)} outputs but "
                    f"{len(names)} output names were given ({', '.join(names)})"
                )
            return dict(zip(names, outputs))
        raise InputError(
            f"{self._label()}: the module returned {type(outputs).__name__}; expected a tensor, tuple, list or dict"
        )

    def _to_numpy(self, torch, tensor: Any) -> np.ndarray:
        if tensor.dtype in (torch.float16, torch.bfloat16):
            tensor = tensor.float()
        return tensor.detach().contiguous().cpu().numpy()


def _torch_stream(torch, stream: Any, device: str) -> Any:
    """``stream`` as a torch stream: a ``torch.cuda.Stream`` as is, an int ``cudaStream_t`` wrapped (not owned)."""
    if isinstance(stream, int):
        return torch.cuda.ExternalStream(stream, device=torch.device(device))
    return stream


def _channels_last_format(torch, rank: int) -> Any:
    """``torch.channels_last`` for 4-D, ``torch.channels_last_3d`` for 5-D, else ``None``."""
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(rank)

