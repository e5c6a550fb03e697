"""The few array operations the sliding window needs, for numpy arrays or torch tensors.

The engine is written once against :class:`ArrayBackend`; :func:`backend_for`
picks :class:`NumpyBackend` for numpy inputs and ``TorchBackend`` (from
``torch_backend``, which imports torch) only when a torch tensor is passed, so
``import spine_rt.patching`` never imports torch. Slicing and ``+=`` are
written directly (they read the same for both); only operations whose fast
form differs live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from spine_rt.errors import InputError

Array = Any  # numpy.ndarray or torch.Tensor; one backend never mixes them


class ArrayBackend(Protocol):
    """Array operations on one kind of array (and, for torch, one device)."""

    def dtype(self, name: str) -> Any:
        """The backend's dtype named ``"float32"`` or ``"float16"``."""

    def zeros(self, shape: Sequence[int], dtype: Any) -> Array: ...

    def empty(self, shape: Sequence[int], dtype: Any) -> Array: ...

    def empty_like(self, array: Array, shape: Sequence[int]) -> Array:
        """An uninitialised array of ``shape`` with the dtype (and device) of ``array``."""

    def from_host(self, array: np.ndarray) -> Array:
        """A numpy array (weights, fill values) as a backend array, on the backend's device."""

    def from_output(self, value: Any) -> Array:
        """One predictor output (numpy or torch, any device) as a backend array, detached from autograd."""

    def multiply(self, a: Array, b: Array, out: Array) -> None:
        """``out = a * b`` with broadcasting, no allocation."""

    def divide(self, a: Array, b: Array, out: Array) -> None:
        """``out = a / b`` with broadcasting, no allocation."""

    def add_product(self, target: Array, values: Array, weights: Array) -> None:
        """``target += values * weights``: ``target`` and ``values`` are ``(C, *box)``, ``weights`` is ``box``."""

    def fill_where(self, block: Array, mask: Array, fill: Array) -> None:
        """Set ``block[:, :, mask] = fill`` for a block ``(N, C, *box)``, a mask ``box`` and a fill ``(C,)``."""

    def shift_down(self, buffer: Array, axis: int, by: int) -> None:
        """Move ``buffer`` along ``axis`` by ``by`` towards index 0 (the tail keeps stale values)."""

    def pad(self, array: Array, padding: Sequence[tuple[int, int]], value: float) -> Array:
        """``array (N, C, *spatial)`` padded with ``value``, ``padding`` per spatial axis."""

    def any(self, array: Array) -> bool: ...

    # the two-stage schedule's few extra operations (spine_rt.pipelines.schedules)
    def take(self, array: Array, index: np.ndarray, axis: int) -> Array:
        """``array`` at host indices ``index`` along ``axis``."""

    def concat(self, arrays: Sequence[Array], axis: int) -> Array: ...

    def block_mean(self, blocks: Array, axes: tuple[int, ...]) -> Array:
        """Mean over ``axes`` summed in float64, as float32."""

    def amax(self, array: Array, axis: int) -> Array: ...

    def argmax(self, array: Array, axis: int, dtype: str) -> Array:
        """Index of the maximum along ``axis`` (first on ties) as ``dtype`` (``"uint8"``, ``"int32"``)."""

    def float32(self, array: Array) -> Array:
        """``array`` as float32 (no copy when it already is)."""

    def copy_where(self, target: Array, source: Array, mask: Array) -> None:
        """``target[:, mask] = source[:, mask]`` for ``(C, *box)`` arrays and a ``box`` mask."""

    def slices_last(self, array: Array) -> Array:
        """A view ``(C, X, Y, Z)`` of ``(Z, C, X, Y)`` (stage one's maps)."""

    def count(self, mask: Array) -> Any:
        """True voxels of ``mask`` (a device scalar on a device: no host wait)."""


class NumpyBackend:
    """:class:`ArrayBackend` for numpy arrays (host memory, one thread)."""

    def __init__(self) -> None:
        self._scratch: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(name)

    def zeros(self, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
        return np.zeros(tuple(shape), dtype)

    def empty(self, shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
        return np.empty(tuple(shape), dtype)

    def empty_like(self, array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        return np.empty(tuple(shape), array.dtype)

    def from_host(self, array: np.ndarray) -> np.ndarray:
        return array

    def from_output(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        if hasattr(value, "detach"):  # a torch tensor from a torch predictor given numpy inputs
            return value.detach().cpu().numpy()
        return np.asarray(value)

    def multiply(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        np.multiply(a, b, out=out)

    def divide(self, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        np.divide(a, b, out=out)

    def add_product(self, target: np.ndarray, values: np.ndarray, weights: np.ndarray) -> None:
        # one channel at a time through a small scratch that stays in cache
        scratch = self._scratch_for(weights.shape, np.result_type(values.dtype, weights.dtype))
        for channel in range(values.shape[0]):
            np.multiply(values[channel], weights, out=scratch)
            row = target[channel]
            np.add(row, scratch, out=row)

    def fill_where(self, block: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> None:
        shape = (1, fill.shape[0]) + (1,) * mask.ndim
        np.copyto(block, fill.reshape(shape), where=mask[None, None])

    def shift_down(self, buffer: np.ndarray, axis: int, by: int) -> None:
        length = buffer.shape[axis]
        if 0 < by < length:
            index = [slice(None)] * buffer.ndim
            index[axis] = slice(by, length)
            moved = buffer[tuple(index)]
            index[axis] = slice(0, length - by)
            buffer[tuple(index)] = moved  # numpy copes with the overlap

    def pad(self, array: np.ndarray, padding: Sequence[tuple[int, int]], value: float) -> np.ndarray:
        return np.pad(array, [(0, 0), (0, 0), *padding], mode="constant", constant_values=value)

    def any(self, array: np.ndarray) -> bool:
        return bool(array.any())

    def take(self, array: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
        return np.take(array, index, axis=axis)

    def concat(self, arrays: Sequence[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(arrays, axis=axis)

    def block_mean(self, blocks: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return blocks.mean(axis=axes, dtype=np.float64).astype(np.float32)

    def amax(self, array: np.ndarray, axis: int) -> np.ndarray:
        return array.max(axis=axis)

    def argmax(self, array: np.ndarray, axis: int, dtype: str) -> np.ndarray:
        if axis != 0 or array.shape[0] > 256 or array.ndim < 2:
            return array.argmax(axis=axis).astype(dtype)
        # the channels' maximum (a contiguous reduction), then the first channel equal to it: numpy's argmax
        # over a leading axis walks it with a stride, ~1.8x slower on (20, 16, 560, 12) fusion blocks
        maximum = array.max(axis=0)
        index = np.zeros(array.shape[1:], dtype)
        found = np.zeros(array.shape[1:], bool)
        for channel in range(array.shape[0]):
            hit = array[channel] == maximum
            hit &= ~found
            index[hit] = channel
            found |= hit
        if not found.all():  # NaN somewhere: argmax's answer (the first NaN) there
            index[~found] = array[:, ~found].argmax(axis=0)
        return index

    def float32(self, array: Any) -> np.ndarray:
        return np.asarray(self.from_output(array), np.float32)

    def copy_where(self, target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> None:
        np.copyto(target, source, where=mask[None])

    def slices_last(self, array: np.ndarray) -> np.ndarray:
        return np.moveaxis(array, 0, -1)

    def count(self, mask: np.ndarray) -> int:
        return int(np.count_nonzero(mask))

    def _scratch_for(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype))
        scratch = self._scratch.get(key)
        if scratch is None:
            if len(self._scratch) >= 16:  # only a few window shapes recur; keep memory bounded
                self._scratch.clear()
            scratch = self._scratch[key] = np.empty(shape, dtype)
        return scratch


def is_torch_tensor(value: object) -> bool:
    """True for a torch tensor (or subclass), decided without importing torch."""
    return any(cls.__module__.split(".")[0] == "torch" and cls.__name__ == "Tensor" for cls in type(value).__mro__)


def backend_for(inputs: object) -> ArrayBackend:
    """The backend for ``inputs``: numpy arrays stay numpy, torch tensors stay torch on their device.

    Raises:
        InputError: ``inputs`` is neither a numpy array nor a torch tensor.
    """
    if isinstance(inputs, np.ndarray):
        return NumpyBackend()
    if is_torch_tensor(inputs):
        from spine_rt.patching.torch_backend import TorchBackend

        return TorchBackend(inputs.device)  # type: ignore[attr-defined]
    raise InputError(f"inputs must be a numpy array or a torch tensor, got {type(inputs).__name__}")
