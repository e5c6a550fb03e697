"""torch tensors as TensorRT buffers: which can be bound in place, and how their streams are ordered.

:class:`~spine_rt.runtime.tensorrt_runner.TensorRTRunner` hands TensorRT the
address of a torch CUDA tensor instead of copying it when the tensor lies on
the runner's GPU, is contiguous and starts on a 256-byte boundary (TensorRT's
I/O tensor alignment; a view such as ``t[1:]`` of a tensor does not, and is
copied into an aligned buffer instead). torch's caching allocator must then learn
that another stream uses the memory (``record_stream``), or it could give the
memory to a new tensor while TensorRT still reads it. The caller passes the
imported ``torch`` module in; this module imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


#: bytes: TensorRT's required alignment of the address of every bound I/O tensor
TENSORRT_ADDRESS_ALIGNMENT = 256


def is_aligned(address: int, alignment: int = TENSORRT_ADDRESS_ALIGNMENT) -> bool:
    """True when ``address`` (bytes) is a multiple of ``alignment`` (bytes)."""
    return int(address) % alignment == 0


def is_bindable_cuda_tensor(tensor: Any, device_index: int) -> bool:
    """True for a contiguous, 256-byte-aligned torch tensor on CUDA device ``device_index``.

    Such a tensor's memory can be bound to TensorRT as is; any other is staged (copied).
    """
    return (bool(tensor.is_cuda) and tensor.device.index == device_index and bool(tensor.is_contiguous())
            and is_aligned(tensor_address(tensor)))


def tensor_address(tensor: Any) -> int:
    """The device (or host) address of a tensor's first element, as an int."""
    return int(tensor.data_ptr())


def contiguous_on_device(torch: Any, tensor: Any, device: str) -> Any:
    """``tensor`` on ``device`` and contiguous; a new tensor when it was not (the caller must keep it alive)."""
    return tensor.to(torch.device(device)).contiguous()


def host_array(tensor: Any) -> np.ndarray:
    """A CPU tensor's data as a numpy array (shares memory with the tensor)."""
    return tensor.detach().numpy()


def empty_device_tensor(torch: Any, shape: Sequence[int], dtype: np.dtype, device: str) -> Any:
    """An uninitialised tensor of ``shape`` and numpy ``dtype`` (float32, float16, int32, ..., bool) on ``device``."""
    return torch.empty(tuple(shape), dtype=getattr(torch, np.dtype(dtype).name), device=torch.device(device))


def external_stream(torch: Any, handle: int, device: str) -> Any:
    """A ``torch.cuda.ExternalStream`` over the CUDA stream ``handle`` (torch does not own or destroy it)."""
    return torch.cuda.ExternalStream(handle, device=torch.device(device))


def mark_used_on_stream(tensor: Any, stream: Any) -> None:
    """Tell torch's caching allocator that ``stream`` (a torch stream object) uses ``tensor``'s memory."""
    tensor.record_stream(stream)


def current_stream_handle(torch: Any, device_index: int) -> int:
    """The ``cudaStream_t`` (int) of torch's current stream on ``device_index``."""
    return int(torch.cuda.current_stream(device_index).cuda_stream)
