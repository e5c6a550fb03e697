"""The sliding window's array operations on torch tensors (imported only for torch inputs).

Everything stays on the device of the input tensor: windows are cut, run and
blended there (``addcmul_`` fuses the weighting and the sum), so a CUDA input
never round-trips through host memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spine_rt.dependencies import require

torch = require("torch", "sliding-window inference on torch tensors")

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16, torch.uint8: np.uint8, torch.int32: np.int32,
                 torch.bool: np.bool_}


class TorchBackend:
    """:class:`~spine_rt.patching.array_backend.ArrayBackend` for torch tensors on one device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def dtype(self, name: str) -> torch.dtype:
        return getattr(torch, name)

    def zeros(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        if self.device.type == "cpu":
            return torch.from_numpy(np.zeros(tuple(shape), _NUMPY_DTYPES[dtype]))
        return torch.zeros(tuple(shape), dtype=dtype, device=self.device)

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        # host memory from numpy: numpy asks the kernel for huge pages on large
        # arrays, which makes first touch of a big accumulator about 3x faster
        if self.device.type == "cpu":
            return torch.from_numpy(np.empty(tuple(shape), _NUMPY_DTYPES[dtype]))
        return torch.empty(tuple(shape), dtype=dtype, device=self.device)

    def empty_like(self, array: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=array.dtype, device=array.device)

    def from_host(self, array: np.ndarray) -> torch.Tensor:
        """``array`` on the device; to a CUDA device through pinned memory, queued (no host wait for the device:
        torch's pinned-memory cache keeps the staging block until the copy is done)."""
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type != "cuda":
            return tensor.to(self.device)
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def from_output(self, value: Any) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.detach().to(self.device)
        return torch.from_numpy(np.asarray(value)).to(self.device)

    def multiply(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
        torch.mul(a, b, out=out)

    def divide(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
        torch.div(a, b, out=out)

    def add_product(self, target: torch.Tensor, values: torch.Tensor, weights: torch.Tensor) -> None:
        target.addcmul_(values, weights)

    def fill_where(self, block: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor) -> None:
        shape = (1, fill.shape[0]) + (1,) * mask.ndim
        block.copy_(torch.where(mask[None, None], fill.reshape(shape).to(block.dtype), block))

    def shift_down(self, buffer: torch.Tensor, axis: int, by: int) -> None:
        length = buffer.shape[axis]
        if 0 < by < length:
            moved = buffer.narrow(axis, by, length - by).clone()  # copy_ refuses overlapping memory
            buffer.narrow(axis, 0, length - by).copy_(moved)

    def pad(self, array: torch.Tensor, padding: Sequence[tuple[int, int]], value: float) -> torch.Tensor:
        flat = [amount for before, after in reversed(padding) for amount in (before, after)]
        return torch.nn.functional.pad(array, flat, mode="constant", value=value)

    def any(self, array: torch.Tensor) -> bool:
        return bool(array.any())

    def take(self, array: torch.Tensor, index: np.ndarray, axis: int) -> torch.Tensor:
        return array.index_select(axis, torch.from_numpy(np.asarray(index, np.int64)).to(array.device))

    def concat(self, arrays: Sequence[torch.Tensor], axis: int) -> torch.Tensor:
        return torch.cat(list(arrays), dim=axis)

    def block_mean(self, blocks: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
        return blocks.to(torch.float64).mean(dim=axes).to(torch.float32)

    def amax(self, array: torch.Tensor, axis: int) -> torch.Tensor:
        return array.amax(dim=axis)

    def argmax(self, array: torch.Tensor, axis: int, dtype: str) -> torch.Tensor:
        return array.argmax(dim=axis).to(getattr(torch, dtype))

    def float32(self, array: Any) -> torch.Tensor:
        return self.from_output(array).to(torch.float32)

    def copy_where(self, target: torch.Tensor, source: torch.Tensor, mask: torch.Tensor) -> None:
        target.copy_(torch.where(mask[None], source, target))

    def slices_last(self, array: torch.Tensor) -> torch.Tensor:
        return array.permute(1, 2, 3, 0)

    def count(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.sum()
