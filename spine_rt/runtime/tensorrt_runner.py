"""``TensorRTRunner``: runs a serialized TensorRT engine (a ``.plan``) on a CUDA GPU.

::

    with TensorRTRunner("pkg/engines/3f2a9c0d1e4b5a67/stage2.plan", device="cuda:0") as runner:
        probs = runner.infer({"image": patches})["probabilities"]      # numpy in, numpy out
        out = runner.infer({"image": patches_on_gpu})                   # torch in, torch out (zero-copy)
        out = runner.infer(feed, stream=torch.cuda.current_stream())    # on the caller's stream

Engines for a model package are found and checked with
:func:`spine_rt.engines.open_engine_runner` (which refuses an engine built
for another GPU or TensorRT version); this class loads whatever plan it is given.

Memory and streams (cuda-python, :mod:`spine_rt.runtime.cuda_memory`):

* **numpy feeds** are copied into pinned host staging buffers, then to device
  buffers with ``cudaMemcpyAsync``; outputs come back the same way, with one
  stream synchronisation at the end of :meth:`infer`. Returned arrays are copies.
* **torch feeds** (CUDA tensors on the runner's device, contiguous) are bound
  zero-copy: TensorRT reads the tensor's memory directly. Other tensors are
  copied into runner buffers. Outputs are new torch tensors on the device,
  written by TensorRT directly. The runner's stream first waits for torch's
  current stream, and torch's current stream waits for the runner's stream
  at the end, so no host synchronisation happens.
* Buffers grow only (reallocated when a larger shape arrives); every object
  whose address TensorRT holds is referenced by the runner until the next
  call on that stream (torch tensors are also ``record_stream``-ed), never a
  temporary that could be freed under TensorRT.
* **One execution context per stream.** The runner's own stream (``stream=None``:
  created, non-blocking) or the one given at construction serves
  :meth:`infer`; ``infer(feed, stream=s)`` runs on ``s`` with its own context
  and buffers. Do not run two calls on the same stream from two threads at once.
* **CUDA graphs** (``cuda_graph=True``): per input-shape set, the first call
  stages the inputs, runs the engine once (warm-up), captures one execution
  into a CUDA graph over dedicated buffers and then replays it; later calls
  with the same shapes copy into those buffers and replay. Each shape set
  keeps its graph and buffers until :meth:`close`.

``tensorrt``, cuda-python and torch are imported when the runner is
activated or fed torch tensors, never when this module is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.cuda_memory import (
    CudaEvent,
    CudaGraph,
    CudaStream,
    DeviceBuffer,
    PinnedHostBuffer,
    copy_async,
    cuda_runtime,
    set_device,
    stream_handle,
)
from spine_rt.runtime.devices import cuda_index
from spine_rt.runtime.feed_validation import is_torch_tensor
from spine_rt.runtime.runner import Runner
from spine_rt.runtime.tensor_spec import TensorSpec
from spine_rt.runtime.tensorrt_logger import format_errors, make_tensorrt_logger
from spine_rt.runtime.torch_cuda_tensors import (
    contiguous_on_device,
    current_stream_handle,
    empty_device_tensor,
    external_stream,
    host_array,
    is_bindable_cuda_tensor,
    mark_used_on_stream,
    tensor_address,
)

#: TensorRT ``DataType`` member name -> numpy dtype name (types numpy lacks, e.g. BF16 and FP8, are refused).
TENSORRT_TO_NUMPY: dict[str, str] = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "UINT8": "uint8",
}

REBUILD_HINT = "rebuild the engine on this machine with: spine-rt build-engine PKG --rebuild"


def numpy_dtype_for_tensorrt(type_name: str, tensor: str = "tensor") -> np.dtype:
    """The numpy dtype of a TensorRT ``DataType`` given by its member name (``"HALF"`` -> float16).

    Raises:
        InputError: a TensorRT type numpy cannot hold (BF16, FP8, INT4, ...) on an engine input or output.
    """
    name = TENSORRT_TO_NUMPY.get(type_name)
    if name is None:
        raise InputError(
            f"{tensor} has TensorRT type {type_name}, which numpy cannot hold; engine inputs and outputs must be "
            f"one of {', '.join(TENSORRT_TO_NUMPY)} (spine-rt graphs keep float32 inputs and outputs)"
        )
    return np.dtype(name)


def shape_from_dims(dims: Sequence[int]) -> tuple[int | None, ...]:
    """A TensorRT shape as a spec shape: ``-1`` (dynamic) becomes ``None``."""
    return tuple(None if int(size) < 0 else int(size) for size in dims)


def byte_size(shape: Sequence[int], dtype: np.dtype) -> int:
    """Bytes of a dense tensor of ``shape`` and ``dtype``."""
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


@dataclass
class _CapturedExecution:
    """A CUDA graph of one engine execution for one set of input shapes, with the buffers it reads and writes."""

    graph: CudaGraph
    buffers: dict[str, DeviceBuffer]
    output_shapes: dict[str, tuple[int, ...]]

    def close(self) -> None:
        self.graph.close()
        for buffer in self.buffers.values():
            buffer.free()
        self.buffers.clear()


@dataclass
class _StreamSlot:
    """What belongs to one CUDA stream: an execution context, its buffers, staging memory, CUDA graphs.

    ``bound`` and ``keep_alive`` hold every object whose memory TensorRT or a
    pending copy uses, until the next call on this stream replaces them.
    """

    stream: CudaStream
    context: Any  # tensorrt.IExecutionContext
    device_buffers: dict[str, DeviceBuffer] = field(default_factory=dict)
    host_buffers: dict[str, PinnedHostBuffer] = field(default_factory=dict)
    bound: dict[str, Any] = field(default_factory=dict)
    keep_alive: list[Any] = field(default_factory=list)
    addresses: dict[str, int] = field(default_factory=dict)
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    graphs: dict[tuple, _CapturedExecution] = field(default_factory=dict)
    staged: CudaEvent = field(default_factory=CudaEvent)  # recorded after the copies out of pinned staging
    handoff: CudaEvent = field(default_factory=CudaEvent)  # orders work between this stream and torch's
    torch_stream: Any = None  # torch.cuda.ExternalStream over this stream, made on first torch feed

    @property
    def handle(self) -> int:
        return self.stream.handle_int

    def device_buffer(self, key: str, nbytes: int) -> DeviceBuffer:
        """The device buffer ``key``, reallocated (after the stream drained) only when ``nbytes`` outgrows it."""
        buffer = self.device_buffers.get(key)
        if buffer is None or buffer.nbytes < nbytes:
            if buffer is not None:
                self.stream.synchronize()
                buffer.free()
            buffer = DeviceBuffer(nbytes)
            self.device_buffers[key] = buffer
        return buffer

    def host_buffer(self, key: str, nbytes: int) -> PinnedHostBuffer:
        """The pinned staging buffer ``key``, reallocated only when ``nbytes`` outgrows it."""
        buffer = self.host_buffers.get(key)
        if buffer is None or buffer.nbytes < nbytes:
            if buffer is not None:
                self.stream.synchronize()
                buffer.free()
            buffer = PinnedHostBuffer(nbytes)
            self.host_buffers[key] = buffer
        return buffer

    def close(self) -> None:
        """Wait for the stream, then release graphs, buffers, events and the context."""
        self.stream.synchronize()
        for captured in self.graphs.values():
            captured.close()
        self.graphs.clear()
        for buffers in (self.device_buffers, self.host_buffers):
            for buffer in buffers.values():
                buffer.free()
            buffers.clear()
        self.bound.clear()
        self.keep_alive.clear()
        self.staged.close()
        self.handoff.close()
        self.context = None
        self.torch_stream = None


class TensorRTRunner(Runner):
    """Run a serialized TensorRT engine.

    Args:
        engine: path of a ``.plan`` file or the serialized engine as ``bytes``.
        device: ``"cuda"`` or ``"cuda:N"``; the engine must have been built for this GPU's architecture.
        stream: the CUDA stream :meth:`infer` runs on: an int handle or a torch /
            cupy / pycuda / cuda-python stream; ``None`` creates a non-blocking stream.
        cuda_graph: capture and replay a CUDA graph per set of input shapes.
        version_compatible: the engine was built with ``--version-compatible``
            (lets TensorRT load the runtime code embedded in it).
        name: name in reports; defaults to the file name.

    Inputs are numpy arrays or torch tensors matching :attr:`input_specs`
    (read from the engine: names, dtypes, shapes with ``None`` for the
    dynamic batch); every size must lie inside the engine's optimization profile.

    Raises:
        InputError: the file does not exist, a CPU device, ``cuda_graph`` on stream 0;
            on activation an engine TensorRT cannot load (with TensorRT's message and the rebuild hint).
        EnvironmentProblem: on activation, tensorrt or cuda-python is not installed
            (install hint), or a CUDA call fails.
    """

    backend = "tensorrt"
    accepts_torch_tensors = True
    accepts_streams = True

    def __init__(
        self,
        engine: str | os.PathLike | bytes,
        device: str = "cuda:0",
        stream: Any = None,
        cuda_graph: bool = False,
        *,
        version_compatible: bool = False,
        name: str | None = None,
    ) -> None:
        if isinstance(engine, (bytes, bytearray, memoryview)):
            self._plan: bytes | None = bytes(engine)
            self._plan_path: Path | None = None
            self.source = "<bytes>"
        else:
            path = Path(engine)
            if not path.is_file():
                raise InputError(f"TensorRT engine not found: {path}")
            self._plan = None
            self._plan_path = path
            self.source = str(path)
            if name is None:
                name = path.name
        super().__init__(name=name, device=device)
        index = cuda_index(self.device)
        if index is None:
            raise InputError("TensorRTRunner runs only on CUDA devices; use device='cuda' or 'cuda:N'")
        self._device_index: int = index
        self._stream_handle = None if stream is None else stream_handle(stream)
        if cuda_graph and self._stream_handle == 0:
            raise InputError("cuda_graph=True cannot capture on the default stream 0; pass another stream or None")
        self.cuda_graph = bool(cuda_graph)
        self.version_compatible = bool(version_compatible)
        self._lock = threading.Lock()
        self._logger: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()
        self._input_ranges: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._default_stream: CudaStream | None = None
        self._slots: dict[int, _StreamSlot] = {}

    # ----------------------------------------------------------------- properties
    @property
    def engine(self) -> Any:
        """The ``tensorrt.ICudaEngine`` (activates the runner)."""
        self.activate()
        return self._engine

    @property
    def stream(self) -> int:
        """Handle of the stream :meth:`infer` uses by default (activates the runner)."""
        self.activate()
        assert self._default_stream is not None
        return self._default_stream.handle_int

    @property
    def captured_graph_count(self) -> int:
        """CUDA graphs captured so far, over all streams."""
        return sum(len(slot.graphs) for slot in self._slots.values())

    def profile_range(self, input_name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(min shape, max shape)`` the engine accepts for ``input_name`` (activates the runner)."""
        self.activate()
        return self._input_ranges[input_name]

    # ----------------------------------------------------------------- hooks
    def _activate_impl(self) -> None:
        trt = require("tensorrt", "TensorRTRunner")
        cuda_runtime()  # EnvironmentProblem with the install hint when cuda-python is missing
        set_device(self._device_index)
        logger = make_tensorrt_logger(trt)
        try:
            runtime = trt.Runtime(logger)
        except (RuntimeError, TypeError) as exc:  # pybind11 reports a null runtime (no usable GPU) as TypeError
            raise EnvironmentProblem(
                f"{self._label()}: TensorRT {trt.__version__} cannot start on {self.device} "
                f"({format_errors(logger.take_errors()) if logger.errors else exc})"
            ) from None
        if self.version_compatible:
            runtime.engine_host_code_allowed = True
        plan = self._plan if self._plan is not None else self._read_plan()
        try:
            engine = runtime.deserialize_cuda_engine(plan)
        except RuntimeError:
            engine = None  # reported below with TensorRT's logged errors
        if engine is None:
            raise InputError(
                f"{self._label()}: TensorRT {trt.__version__} cannot load the engine {self.source} "
                f"({format_errors(logger.take_errors())}); an engine runs only with the TensorRT version and GPU "
                f"architecture it was built for: {REBUILD_HINT}"
            )
        inputs, outputs = _io_specs(engine)
        ranges = {spec.name: _profile_range(engine, spec) for spec in inputs}
        self._default_stream = CudaStream(self._stream_handle)
        self._logger, self._runtime, self._engine = logger, runtime, engine
        self._inputs, self._outputs, self._input_ranges = inputs, outputs, ranges
        self._plan = None  # the engine holds what it needs; a closed runner is never activated again

    def _input_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    def _output_specs_impl(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _infer_impl(self, feed: Mapping[str, Any], stream: Any) -> dict[str, Any]:
        """One batch on ``stream`` (int handle or stream object; its own execution context) or, with ``None``,
        on the runner's stream. Returns numpy arrays for a numpy feed, torch tensors on the device for any
        torch tensor in the feed; refuses (InputError) shapes outside the engine's optimization profile."""
        assert self._default_stream is not None
        handle = self._default_stream.handle_int if stream is None else stream_handle(stream)
        if self.cuda_graph and handle == 0:
            raise InputError(f"{self._label()}: cuda_graph=True cannot capture on the default stream 0; "
                             "pass another stream or None")
        return self._run(feed, handle)

    def _close_impl(self) -> None:
        with self._lock:  # no slot is made (another thread's first call on a stream) while they are released
            set_device(self._device_index)
            try:
                for slot in self._slots.values():
                    slot.close()
            finally:
                self._slots.clear()
                if self._default_stream is not None:
                    self._default_stream.close()
                    self._default_stream = None
                self._engine = None
                self._runtime = None
                self._logger = None

    # ----------------------------------------------------------------- running
    def _run(self, feed: Mapping[str, Any], handle: int) -> dict[str, Any]:
        set_device(self._device_index)
        shapes = {spec.name: tuple(int(size) for size in feed[spec.name].shape) for spec in self._inputs}
        self._check_profile(shapes)
        slot = self._slot_for(handle)
        torch = None
        if any(is_torch_tensor(value) for value in feed.values()):
            import torch

            self._wait_for_torch(torch, slot)
        slot.keep_alive.clear()  # the last call's copy sources: record_stream keeps torch from reusing them early
        if self.cuda_graph:
            return self._run_graph(slot, feed, shapes, torch)
        return self._run_plain(slot, feed, shapes, torch)

    def _run_plain(
        self, slot: _StreamSlot, feed: Mapping[str, Any], shapes: dict[str, tuple[int, ...]], torch: Any
    ) -> dict[str, Any]:
        self._set_input_shapes(slot, shapes)
        for spec in self._inputs:
            value = feed[spec.name]
            if torch is not None and is_torch_tensor(value) and is_bindable_cuda_tensor(value, self._device_index):
                mark_used_on_stream(value, slot.torch_stream)
                self._bind(slot, spec.name, tensor_address(value), value)  # zero-copy; the reference is kept
                continue
            nbytes = byte_size(shapes[spec.name], spec.dtype)
            buffer = slot.device_buffer(f"in:{spec.name}", nbytes)
            self._stage_input(torch, slot, spec, value, shapes[spec.name], buffer)
            self._bind(slot, spec.name, buffer.ptr, buffer)
        slot.staged.record(slot.handle)
        output_shapes = self._output_shapes(slot)
        device_outputs: dict[str, Any] = {}
        for spec in self._outputs:
            shape = output_shapes[spec.name]
            if torch is not None:
                tensor = empty_device_tensor(torch, shape, spec.dtype, self.device)
                mark_used_on_stream(tensor, slot.torch_stream)
                self._bind(slot, spec.name, tensor_address(tensor), tensor)
                device_outputs[spec.name] = tensor
            else:
                buffer = slot.device_buffer(f"out:{spec.name}", byte_size(shape, spec.dtype))
                self._bind(slot, spec.name, buffer.ptr, buffer)
                device_outputs[spec.name] = buffer
        self._execute(slot)
        if torch is not None:
            self._hand_back_to_torch(torch, slot)
            return device_outputs
        return self._download(slot, {name: buffer.ptr for name, buffer in device_outputs.items()}, output_shapes)

    def _run_graph(
        self, slot: _StreamSlot, feed: Mapping[str, Any], shapes: dict[str, tuple[int, ...]], torch: Any
    ) -> dict[str, Any]:
        key = tuple(shapes[spec.name] for spec in self._inputs)
        captured = slot.graphs.get(key)
        if captured is None:
            self._set_input_shapes(slot, shapes)
            output_shapes = self._output_shapes(slot)
            buffers: dict[str, DeviceBuffer] = {}
            for spec in self._inputs:
                buffers[spec.name] = DeviceBuffer(byte_size(shapes[spec.name], spec.dtype))
            for spec in self._outputs:
                buffers[spec.name] = DeviceBuffer(byte_size(output_shapes[spec.name], spec.dtype))
            for name, buffer in buffers.items():
                self._bind(slot, name, buffer.ptr, buffer)
        else:
            buffers, output_shapes = captured.buffers, captured.output_shapes
        try:
            for spec in self._inputs:
                self._stage_input(torch, slot, spec, feed[spec.name], shapes[spec.name], buffers[spec.name])
            slot.staged.record(slot.handle)
            if captured is None:
                self._execute(slot)  # warm-up: TensorRT's first run after a shape change may do work a graph cannot hold
                graph = CudaGraph.capture(slot.handle, lambda: self._execute(slot))
        except BaseException:
            if captured is None:  # the new buffers belong to no graph: free them, staging failed or capture did
                self._drop_new_buffers(slot, buffers)
            raise
        if captured is None:
            captured = _CapturedExecution(graph, buffers, output_shapes)
            slot.graphs[key] = captured
        captured.graph.launch(slot.handle)
        if torch is not None:
            results = {}
            for spec in self._outputs:
                shape = output_shapes[spec.name]
                tensor = empty_device_tensor(torch, shape, spec.dtype, self.device)
                mark_used_on_stream(tensor, slot.torch_stream)
                copy_async(tensor_address(tensor), buffers[spec.name].ptr, byte_size(shape, spec.dtype), slot.handle)
                results[spec.name] = tensor
            self._hand_back_to_torch(torch, slot)
            return results
        return self._download(slot, {spec.name: buffers[spec.name].ptr for spec in self._outputs}, output_shapes)

    # ----------------------------------------------------------------- helpers
    def _read_plan(self) -> bytes:
        assert self._plan_path is not None
        try:
            return self._plan_path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read TensorRT engine {self._plan_path}: {exc}") from None

    def _slot_for(self, handle: int) -> _StreamSlot:
        with self._lock:
            if self._engine is None:  # closed by another thread since this call began
                self._check_not_closed()
                raise InputError(f"{self._label()} is closed; create a new runner to run inference again")
            slot = self._slots.get(handle)
            if slot is None:
                assert self._default_stream is not None
                stream = self._default_stream if handle == self._default_stream.handle_int else CudaStream(handle)
                context = self._engine.create_execution_context()
                if context is None:
                    raise EnvironmentProblem(
                        f"{self._label()}: TensorRT could not create an execution context on {self.device} "
                        f"({format_errors(self._logger.take_errors())}); is the GPU out of memory?"
                    )
                slot = _StreamSlot(stream=stream, context=context)
                self._slots[handle] = slot
            return slot

    def _check_profile(self, shapes: dict[str, tuple[int, ...]]) -> None:
        for name, shape in shapes.items():
            low, high = self._input_ranges[name]
            fits = len(shape) == len(low) and all(lo <= size <= hi for lo, size, hi in zip(low, shape, high))
            if not fits:
                raise InputError(
                    f"{self._label()}: input {name!r} has shape {shape}, outside the engine's profile "
                    f"(min {low}, max {high}); build an engine for it, e.g. "
                    f"spine-rt build-engine PKG --max-batch {shape[0] if shape else 1}"
                )

    def _set_input_shapes(self, slot: _StreamSlot, shapes: dict[str, tuple[int, ...]]) -> None:
        for name, shape in shapes.items():
            if slot.input_shapes.get(name) == shape:
                continue
            if not slot.context.set_input_shape(name, shape):
                raise InputError(
                    f"{self._label()}: TensorRT refused shape {shape} for input {name!r} "
                    f"({format_errors(self._logger.take_errors())})"
                )
            slot.input_shapes[name] = shape

    def _output_shapes(self, slot: _StreamSlot) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for spec in self._outputs:
            shape = tuple(int(size) for size in slot.context.get_tensor_shape(spec.name))
            if any(size < 0 for size in shape):
                raise EnvironmentProblem(
                    f"{self._label()}: output {spec.name!r} has a data-dependent shape {shape}, which this runner "
                    "does not support"
                )
            shapes[spec.name] = shape
        return shapes

    @staticmethod
    def _drop_new_buffers(slot: _StreamSlot, buffers: Mapping[str, DeviceBuffer]) -> None:
        """Free buffers made for a graph that was never captured, and forget their bindings."""
        slot.stream.synchronize()  # no queued copy or run still uses them
        for name, buffer in buffers.items():
            if slot.bound.get(name) is buffer:
                del slot.bound[name]
                slot.addresses.pop(name, None)
            buffer.free()

    def _bind(self, slot: _StreamSlot, name: str, address: int, owner: Any) -> None:
        """Give TensorRT ``address`` for tensor ``name`` and keep ``owner`` (the memory's owner) referenced."""
        slot.bound[name] = owner
        if slot.addresses.get(name) == address:
            return
        if not slot.context.set_tensor_address(name, address):
            raise EnvironmentProblem(
                f"{self._label()}: TensorRT refused the address of {name!r} ({format_errors(self._logger.take_errors())})"
            )
        slot.addresses[name] = address

    def _stage_input(
        self, torch: Any, slot: _StreamSlot, spec: TensorSpec, value: Any, shape: tuple[int, ...], target: DeviceBuffer
    ) -> None:
        """Enqueue the copy of input ``spec`` (numpy array or torch tensor of ``shape``) into ``target``.

        Host data goes through the input's pinned staging buffer; device tensors are copied directly.
        """
        dtype = spec.dtype
        nbytes = byte_size(shape, dtype)
        torch_value = is_torch_tensor(value)
        if torch_value and value.device.type == "cuda":
            source = contiguous_on_device(torch, value, self.device)
            mark_used_on_stream(source, slot.torch_stream)
            slot.keep_alive.append(source)  # a temporary of .to()/.contiguous() must outlive the copy
            copy_async(target.ptr, tensor_address(source), nbytes, slot.handle)
            return
        array = host_array(value) if torch_value else value
        array = np.ascontiguousarray(array, dtype=dtype)
        pinned = slot.host_buffer(f"in:{spec.name}", nbytes)
        slot.staged.synchronize()  # the previous call's copy out of this staging memory has run
        pinned.view(dtype, shape)[...] = array
        copy_async(target.ptr, pinned.ptr, nbytes, slot.handle)

    def _execute(self, slot: _StreamSlot) -> None:
        if not slot.context.execute_async_v3(slot.handle):
            raise EnvironmentProblem(
                f"{self._label()}: TensorRT failed to run the engine on {self.device} "
                f"({format_errors(self._logger.take_errors())})"
            )

    def _download(
        self, slot: _StreamSlot, sources: dict[str, int], shapes: dict[str, tuple[int, ...]]
    ) -> dict[str, np.ndarray]:
        """Copy outputs to pinned memory, wait once for the stream, return numpy copies."""
        views = {}
        for spec in self._outputs:
            shape = shapes[spec.name]
            nbytes = byte_size(shape, spec.dtype)
            pinned = slot.host_buffer(f"out:{spec.name}", nbytes)
            copy_async(pinned.ptr, sources[spec.name], nbytes, slot.handle)
            views[spec.name] = (pinned, shape, spec.dtype)
        slot.stream.synchronize()
        return {name: pinned.view(dtype, shape).copy() for name, (pinned, shape, dtype) in views.items()}

    def _wait_for_torch(self, torch: Any, slot: _StreamSlot) -> None:
        """Make the slot's stream wait for work already queued on torch's current stream (which made the inputs)."""
        if slot.torch_stream is None:
            slot.torch_stream = external_stream(torch, slot.handle, self.device)
        current = current_stream_handle(torch, self._device_index)
        if current != slot.handle:
            slot.handoff.record(current)
            slot.handoff.make_wait(slot.handle)

    def _hand_back_to_torch(self, torch: Any, slot: _StreamSlot) -> None:
        """Make torch's current stream wait for this call's work, so returned tensors are ready there."""
        current = current_stream_handle(torch, self._device_index)
        if current != slot.handle:
            slot.handoff.record(slot.handle)
            slot.handoff.make_wait(current)


def _profile_range(engine: Any, spec: TensorSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(min, max)`` shape of an input: its static shape, else its range in optimization profile 0.

    A static input needs no profile entry (an engine built without profiles has
    none, and TensorRT reports an error when asked for one), so it is never asked.
    """
    if spec.shape is not None and spec.is_static:
        static = tuple(int(s) for s in spec.shape)
        return static, static
    profile: Any = ()
    if engine.num_optimization_profiles > 0:
        try:
            profile = engine.get_tensor_profile_shape(spec.name, 0)
        except (RuntimeError, ValueError, TypeError):
            profile = ()
    if len(profile) != 3:
        raise InputError(f"engine input {spec.name!r} has dynamic shape {spec.shape} but no optimization profile; "
                         f"{REBUILD_HINT}")
    return tuple(int(s) for s in profile[0]), tuple(int(s) for s in profile[2])


def _io_specs(engine: Any) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output specs of an engine, in the engine's IO order."""
    inputs, outputs = [], []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        dtype = numpy_dtype_for_tensorrt(engine.get_tensor_dtype(name).name, f"engine tensor {name!r}")
        spec = TensorSpec(name, shape_from_dims(engine.get_tensor_shape(name)), dtype)
        if engine.get_tensor_mode(name).name == "INPUT":  # TensorIOMode.INPUT / OUTPUT
            inputs.append(spec)
        else:
            outputs.append(spec)
    return tuple(inputs), tuple(outputs)
