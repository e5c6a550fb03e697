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

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


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
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

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
