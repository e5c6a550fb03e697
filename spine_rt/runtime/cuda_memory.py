"""CUDA device memory, pinned host memory, streams, events and graphs through cuda-python.

Thin owners around ``cuda.bindings.runtime`` (``cuda.cudart`` on cuda-python
before 12.6). Every call's error code is checked: cuda-python returns a tuple
``(err, *values)`` and a failure becomes :class:`CudaCallFailed` naming the
call, the error and, for allocations, the size::

    stream = CudaStream()                         # its own non-blocking stream
    device = DeviceBuffer(4 * 1024)               # cudaMalloc; .ptr is an int
    host = PinnedHostBuffer(4 * 1024)             # cudaMallocHost
    host.view(np.float32, (1024,))[:] = values    # numpy view of the pinned memory
    copy_async(device.ptr, host.ptr, 4 * 1024, stream.handle)
    stream.synchronize()
    device.free(); host.free(); stream.close()

Owners free what they allocated on ``free()`` / ``close()`` (idempotent) and,
as a last resort, when garbage-collected. Pointers and stream handles are
plain ints so they can be handed to TensorRT, torch, cupy or pycuda.

cuda-python is imported when one of these is used, never when this module is
imported.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from spine_rt.dependencies import cuda_python_installed, install_hint
from spine_rt.errors import EnvironmentProblem, InputError


class CudaCallFailed(EnvironmentProblem):
    """A CUDA runtime call returned an error (out of memory, no device, a failed kernel...)."""

    def __init__(self, call: str, error_name: str, error_text: str) -> None:
        hint = ""
        if error_name == "cudaErrorMemoryAllocation":
            hint = "; the GPU is out of memory: lower the batch size or free GPU memory"
        elif error_name in ("cudaErrorNoDevice", "cudaErrorInsufficientDriver"):
            hint = "; check that nvidia-smi lists the GPU and that the driver supports this CUDA version"
        super().__init__(f"{call} failed: {error_name} ({error_text}){hint}")
        self.call = call
        self.error_name = error_name


def cuda_runtime() -> ModuleType:
    """cuda-python's CUDA runtime module.

    Raises:
        EnvironmentProblem: cuda-python is not installed, or is installed but its
            runtime bindings fail to import (a driver or CUDA-major mismatch); with the install hint.
    """
    if not cuda_python_installed():
        raise EnvironmentProblem(
            f"CUDA memory and streams need cuda-python, which is not installed; install it with: {install_hint('cuda')}"
        )
    try:
        from cuda.bindings import runtime
    except ImportError as exc:
        try:
            from cuda import cudart as runtime  # cuda-python < 12.6
        except ImportError as older:
            # the error of the bindings that are there: cuda.bindings (12.6 and later) or only cuda.cudart
            absent = isinstance(exc, ModuleNotFoundError) and exc.name in ("cuda.bindings", "cuda.bindings.runtime")
            raise EnvironmentProblem(
                f"cuda-python is installed but its CUDA runtime bindings cannot be imported ({older if absent else exc}); "
                f"check that the NVIDIA driver supports its CUDA major, or reinstall it with: {install_hint('cuda')}"
            ) from None
    return runtime


def cuda_check(result: Any, call: str) -> Any:
    """The value(s) of a cuda-python call after checking its error code.

    Args:
        result: what the call returned: ``(err,)``, ``(err, value)`` or ``(err, v1, v2, ...)``.
        call: how to name the call in the error, e.g. ``"cudaMalloc(4096 bytes)"``.

    Returns:
        ``None``, the single value, or a tuple of values.

    Raises:
        CudaCallFailed: ``err`` is not ``cudaSuccess``.
    """
    runtime = cuda_runtime()
    err, values = (result[0], tuple(result[1:])) if isinstance(result, tuple) else (result, ())
    if err != runtime.cudaError_t.cudaSuccess:
        raise CudaCallFailed(call, _error_name(runtime, err), _error_text(runtime, err))
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _error_name(runtime: ModuleType, err: Any) -> str:
    status, name = runtime.cudaGetErrorName(err)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(err)


def _error_text(runtime: ModuleType, err: Any) -> str:
    status, text = runtime.cudaGetErrorString(err)
    return text.decode(errors="replace") if isinstance(text, bytes) else "unknown error"


def set_device(index: int) -> None:
    """Make CUDA device ``index`` current for this thread (``cudaSetDevice``)."""
    cuda_check(cuda_runtime().cudaSetDevice(int(index)), f"cudaSetDevice({index})")


def copy_async(destination: int, source: int, nbytes: int, stream: int) -> None:
    """Enqueue a copy of ``nbytes`` bytes on ``stream`` (direction inferred from the pointers).

    Pinned host memory makes host/device copies truly asynchronous; with
    pageable host memory CUDA copies synchronously. ``source`` must stay valid
    until the stream has run the copy.
    """
    if nbytes <= 0:
        return
    runtime = cuda_runtime()
    cuda_check(
        runtime.cudaMemcpyAsync(destination, source, nbytes, runtime.cudaMemcpyKind.cudaMemcpyDefault, stream),
        f"cudaMemcpyAsync({nbytes} bytes)",
    )


def stream_handle(stream: Any) -> int:
    """The ``cudaStream_t`` of any stream object, as an int.

    Accepts an int handle, a :class:`CudaStream`, a torch ``Stream`` /
    ``ExternalStream`` (``cuda_stream``), a cupy stream (``ptr``), a pycuda
    stream (``handle``) or a cuda-python ``cudaStream_t`` / ``CUstream``.

    Raises:
        InputError: anything else, or a negative int.
    """
    if isinstance(stream, bool):
        raise InputError(f"a CUDA stream handle must be an int or a stream object, got {stream!r}")
    if isinstance(stream, (int, np.integer)):
        if stream < 0:
            raise InputError(f"a CUDA stream handle cannot be negative, got {stream}")
        return int(stream)
    for attribute in ("handle_int", "cuda_stream", "ptr", "handle"):  # spine-rt, torch, cupy, pycuda
        value = getattr(stream, attribute, None)
        if value is not None and not callable(value):
            return stream_handle(value)
    try:
        return stream_handle(int(stream))  # cuda-python's cudaStream_t and CUstream convert with int()
    except (TypeError, ValueError):
        raise InputError(
            f"cannot read a CUDA stream handle from {type(stream).__name__}; pass an int handle or a torch, "
            "cupy, pycuda or cuda-python stream"
        ) from None


class DeviceBuffer:
    """``nbytes`` bytes of device memory on the current device (``cudaMalloc``).

    Attributes:
        ptr: the device address (int); 0 once freed.
        nbytes: the size in bytes (at least 1, so that ``ptr`` is never null).
    """

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.ptr = 0
        self.ptr = int(cuda_check(cuda_runtime().cudaMalloc(self.nbytes), f"cudaMalloc({self.nbytes} bytes)"))

    def free(self) -> None:
        """Release the memory (``cudaFree``); does nothing when already freed."""
        if self.ptr:
            pointer, self.ptr = self.ptr, 0
            cuda_check(cuda_runtime().cudaFree(pointer), "cudaFree")

    def __del__(self) -> None:
        _release_quietly(self.free)

    def __repr__(self) -> str:
        return f"DeviceBuffer({self.nbytes} bytes at {self.ptr:#x})"


class PinnedHostBuffer:
    """``nbytes`` bytes of page-locked host memory (``cudaMallocHost``) for asynchronous copies.

    Attributes:
        ptr: the host address (int); 0 once freed.
        nbytes: the size in bytes (at least 1).
    """

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.ptr = 0
        self.ptr = int(cuda_check(cuda_runtime().cudaMallocHost(self.nbytes), f"cudaMallocHost({self.nbytes} bytes)"))

    def view(self, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A numpy array of ``dtype`` and ``shape`` over the start of this memory (no copy).

        The view is valid only until :meth:`free`; copy data out before that.

        Raises:
            ValueError: the array would not fit in the buffer, or the buffer is freed.
        """
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        needed = count * dtype.itemsize
        if not self.ptr or needed > self.nbytes:
            raise ValueError(f"{needed} bytes do not fit in {self!r}")
        return np.asarray(_HostMemoryView(self.ptr, tuple(int(s) for s in shape), dtype))

    def free(self) -> None:
        """Release the memory (``cudaFreeHost``); does nothing when already freed."""
        if self.ptr:
            pointer, self.ptr = self.ptr, 0
            cuda_check(cuda_runtime().cudaFreeHost(pointer), "cudaFreeHost")

    def __del__(self) -> None:
        _release_quietly(self.free)

    def __repr__(self) -> str:
        return f"PinnedHostBuffer({self.nbytes} bytes at {self.ptr:#x})"


class CudaStream:
    """A CUDA stream: a new non-blocking one (owned, destroyed on :meth:`close`) or a borrowed handle.

    Args:
        handle: an existing stream (see :func:`stream_handle`) to borrow; ``None`` creates one.

    Attributes:
        handle_int: the ``cudaStream_t`` as an int.
        owned: whether :meth:`close` destroys the stream.
    """

    def __init__(self, handle: Any = None) -> None:
        self.handle_int = 0
        self.owned = False
        if handle is None:
            runtime = cuda_runtime()
            created = cuda_check(
                runtime.cudaStreamCreateWithFlags(runtime.cudaStreamNonBlocking), "cudaStreamCreateWithFlags"
            )
            self.handle_int = int(created)
            self.owned = True
        else:
            self.handle_int = stream_handle(handle)
            self.owned = False

    def synchronize(self) -> None:
        """Wait on the host until all work enqueued on the stream has finished."""
        cuda_check(cuda_runtime().cudaStreamSynchronize(self.handle_int), "cudaStreamSynchronize")

    def close(self) -> None:
        """Destroy an owned stream (after its work finished); forget a borrowed one."""
        if self.owned and self.handle_int:
            handle, self.handle_int = self.handle_int, 0
            cuda_check(cuda_runtime().cudaStreamDestroy(handle), "cudaStreamDestroy")

    def __del__(self) -> None:
        _release_quietly(self.close)

    def __repr__(self) -> str:
        return f"CudaStream({self.handle_int:#x}, {'owned' if self.owned else 'borrowed'})"


class CudaEvent:
    """A CUDA event without timing, to order work between streams and to wait on the host."""

    def __init__(self) -> None:
        runtime = cuda_runtime()
        self.handle_int = 0
        self.handle_int = int(
            cuda_check(runtime.cudaEventCreateWithFlags(runtime.cudaEventDisableTiming), "cudaEventCreateWithFlags")
        )

    def record(self, stream: int) -> None:
        """Mark the current end of ``stream``'s work."""
        cuda_check(cuda_runtime().cudaEventRecord(self.handle_int, stream), "cudaEventRecord")

    def make_wait(self, stream: int) -> None:
        """Make ``stream`` wait (on the device) for the work recorded before this event."""
        cuda_check(cuda_runtime().cudaStreamWaitEvent(stream, self.handle_int, 0), "cudaStreamWaitEvent")

    def synchronize(self) -> None:
        """Wait on the host for the recorded work (returns at once for a never-recorded event)."""
        cuda_check(cuda_runtime().cudaEventSynchronize(self.handle_int), "cudaEventSynchronize")

    def close(self) -> None:
        """Destroy the event; does nothing when already destroyed."""
        if self.handle_int:
            handle, self.handle_int = self.handle_int, 0
            cuda_check(cuda_runtime().cudaEventDestroy(handle), "cudaEventDestroy")

    def __del__(self) -> None:
        _release_quietly(self.close)


class CudaGraph:
    """An instantiated CUDA graph captured from the work one callable enqueues on a stream.

    Use :meth:`capture`; :meth:`launch` replays the captured work on a stream.
    The graph replays the same kernels on the same memory addresses, so every
    buffer the captured work touches must stay allocated while the graph lives.
    """

    def __init__(self, graph: Any, executable: Any) -> None:
        self._graph = graph
        self._executable = executable

    @classmethod
    def capture(cls, stream: int, enqueue: Callable[[], None]) -> "CudaGraph":
        """Capture what ``enqueue()`` puts on ``stream`` (thread-local capture mode).

        ``stream`` must not be the legacy default stream (0). When ``enqueue``
        raises, the capture is ended and the error re-raised.

        Raises:
            InputError: ``stream`` is 0.
            CudaCallFailed: capture or instantiation failed (e.g. the work synchronised).
        """
        if stream == 0:
            raise InputError("CUDA graphs cannot be captured on the default stream 0; use a created stream")
        runtime = cuda_runtime()
        cuda_check(
            runtime.cudaStreamBeginCapture(stream, runtime.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
            "cudaStreamBeginCapture",
        )
        try:
            enqueue()
        except BaseException:
            err, graph = runtime.cudaStreamEndCapture(stream)
            if err == runtime.cudaError_t.cudaSuccess and graph is not None:
                runtime.cudaGraphDestroy(graph)
            raise
        graph = cuda_check(runtime.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        try:
            executable = cuda_check(runtime.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except CudaCallFailed:
            runtime.cudaGraphDestroy(graph)
            raise
        return cls(graph, executable)

    def launch(self, stream: int) -> None:
        """Enqueue one replay of the graph on ``stream``."""
        cuda_check(cuda_runtime().cudaGraphLaunch(self._executable, stream), "cudaGraphLaunch")

    def close(self) -> None:
        """Destroy the executable graph and the graph; does nothing when already closed."""
        runtime = cuda_runtime()
        if self._executable is not None:
            executable, self._executable = self._executable, None
            cuda_check(runtime.cudaGraphExecDestroy(executable), "cudaGraphExecDestroy")
        if self._graph is not None:
            graph, self._graph = self._graph, None
            cuda_check(runtime.cudaGraphDestroy(graph), "cudaGraphDestroy")

    def __del__(self) -> None:
        _release_quietly(self.close)


class _HostMemoryView:
    """Host memory at an address, shown to numpy through the array interface (numpy then wraps it, no copy)."""

    def __init__(self, address: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.__array_interface__ = {"data": (address, False), "shape": shape, "typestr": dtype.str, "version": 3}


def _release_quietly(release: Callable[[], None]) -> None:
    """Run ``release`` from ``__del__``: errors there cannot be raised to anyone, so they are dropped.

    Explicit ``free()`` / ``close()`` report errors; this is only the garbage
    collector's last resort (also at interpreter exit, when modules may be gone).
    """
    try:
        release()
    except Exception:  # noqa: BLE001 - nothing can handle an exception raised in __del__
        pass
