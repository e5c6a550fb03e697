"""cuda-python wrappers: stream handles from any library here; memory, streams, events and graphs on a GPU."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from spine_rt.dependencies import cuda_python_installed
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.cuda_memory import stream_handle


def test_stream_handles_from_ints():
    assert stream_handle(0) == 0
    assert stream_handle(np.int64(1234)) == 1234
    with pytest.raises(InputError, match="cannot be negative"):
        stream_handle(-1)
    with pytest.raises(InputError, match="must be an int or a stream object"):
        stream_handle(True)


@pytest.mark.parametrize("attribute", ["cuda_stream", "ptr", "handle", "handle_int"])
def test_stream_handles_from_the_attribute_each_library_uses(attribute):
    # torch streams expose cuda_stream, cupy ptr, pycuda handle, spine-rt's CudaStream handle_int
    assert stream_handle(SimpleNamespace(**{attribute: 77})) == 77


def test_stream_handle_from_an_unknown_object():
    with pytest.raises(InputError, match="cannot read a CUDA stream handle from object"):
        stream_handle(object())


@pytest.mark.skipif(cuda_python_installed(), reason="cuda-python is installed here")
def test_missing_cuda_python_gives_the_install_hint():
    from spine_rt.runtime.cuda_memory import DeviceBuffer

    with pytest.raises(EnvironmentProblem, match="need cuda-python.*pip install"):
        DeviceBuffer(16)


# ----------------------------------------------------------------------------- GPU
@pytest.fixture
def cuda_python():
    pytest.importorskip("cuda.bindings")
    from spine_rt.runtime.cuda_memory import set_device

    set_device(0)


@pytest.mark.gpu
def test_round_trip_through_device_memory(cuda_python):
    from spine_rt.runtime.cuda_memory import CudaStream, DeviceBuffer, PinnedHostBuffer, copy_async

    values = np.arange(1000, dtype=np.float32)
    stream, device = CudaStream(), DeviceBuffer(values.nbytes)
    up, down = PinnedHostBuffer(values.nbytes), PinnedHostBuffer(values.nbytes)
    try:
        up.view(np.float32, (1000,))[...] = values
        copy_async(device.ptr, up.ptr, values.nbytes, stream.handle_int)
        copy_async(down.ptr, device.ptr, values.nbytes, stream.handle_int)
        stream.synchronize()
        np.testing.assert_array_equal(down.view(np.float32, (10, 100)).ravel(), values)
    finally:
        for owner in (device, up, down):
            owner.free()
            owner.free()  # idempotent
        stream.close()
    assert device.ptr == 0


#: bytes of device-to-device copying queued on the first stream before the values are written:
#: milliseconds of work, so a second stream that does not wait reads the buffer long before it is written
SLOW_COPY_BYTES = 1 << 30
SLOW_COPIES = 4


def _read_after_slow_write(wait_for_event: bool) -> np.ndarray:
    """Stream one: slow copies, then 7s into a zeroed buffer, event; stream two: (waits,) reads the buffer."""
    from spine_rt.runtime.cuda_memory import CudaEvent, CudaStream, DeviceBuffer, PinnedHostBuffer, copy_async

    values = np.full(256, 7, dtype=np.int32)
    first, second, event = CudaStream(), CudaStream(), CudaEvent()
    device, host, result = DeviceBuffer(values.nbytes), PinnedHostBuffer(values.nbytes), PinnedHostBuffer(values.nbytes)
    big_a, big_b = DeviceBuffer(SLOW_COPY_BYTES), DeviceBuffer(SLOW_COPY_BYTES)
    try:
        host.view(np.int32, (256,))[...] = 0
        copy_async(device.ptr, host.ptr, values.nbytes, first.handle_int)
        first.synchronize()  # the buffer holds zeros
        host.view(np.int32, (256,))[...] = values
        for _ in range(SLOW_COPIES):
            copy_async(big_b.ptr, big_a.ptr, SLOW_COPY_BYTES, first.handle_int)
        copy_async(device.ptr, host.ptr, values.nbytes, first.handle_int)
        event.record(first.handle_int)
        if wait_for_event:
            event.make_wait(second.handle_int)
        copy_async(result.ptr, device.ptr, values.nbytes, second.handle_int)
        second.synchronize()
        read = result.view(np.int32, (256,)).copy()
        first.synchronize()
        return read
    finally:
        for owner in (device, host, result, big_a, big_b):
            owner.free()
        event.close(), first.close(), second.close()


@pytest.mark.gpu
def test_event_orders_two_streams(cuda_python):
    np.testing.assert_array_equal(_read_after_slow_write(wait_for_event=True), np.full(256, 7, dtype=np.int32))
    # the control: without the wait the second stream reads the zeros, so the check above can fail
    assert (_read_after_slow_write(wait_for_event=False) == 0).all()


@pytest.mark.gpu
def test_cuda_graph_replays_a_copy(cuda_python):
    from spine_rt.runtime.cuda_memory import CudaGraph, CudaStream, DeviceBuffer, PinnedHostBuffer, copy_async

    stream, source, target, host = CudaStream(), DeviceBuffer(64), DeviceBuffer(64), PinnedHostBuffer(64)
    try:
        graph = CudaGraph.capture(stream.handle_int, lambda: copy_async(target.ptr, source.ptr, 64, stream.handle_int))
        for fill in (3, 9):
            host.view(np.uint8, (64,))[...] = fill
            copy_async(source.ptr, host.ptr, 64, stream.handle_int)
            graph.launch(stream.handle_int)
            copy_async(host.ptr, target.ptr, 64, stream.handle_int)
            stream.synchronize()
            assert (host.view(np.uint8, (64,)) == fill).all()
        graph.close()
        graph.close()
    finally:
        source.free(), target.free(), host.free(), stream.close()


@pytest.mark.gpu
def test_capture_on_stream_zero_is_refused(cuda_python):
    from spine_rt.runtime.cuda_memory import CudaGraph

    with pytest.raises(InputError, match="default stream 0"):
        CudaGraph.capture(0, lambda: None)


@pytest.mark.gpu
def test_impossible_allocation_is_a_clear_error(cuda_python):
    from spine_rt.runtime.cuda_memory import CudaCallFailed, DeviceBuffer

    with pytest.raises(CudaCallFailed, match=r"cudaMalloc\(\d+ bytes\) failed: cudaErrorMemoryAllocation.*out of memory"):
        DeviceBuffer(1 << 50)
