"""``TensorSpec``: the name, shape and dtype a runner expects for one tensor.

Shapes use ``None`` for dynamic dimensions, e.g. the stage-two input
``TensorSpec("image", (None, 21, 192, 192, 12), np.float32)`` takes any batch
size. A spec whose ``shape`` is ``None`` has an unknown rank and one whose
``dtype`` is ``None`` takes any dtype (a :class:`TorchRunner` knows its output
names but not their shapes before it has run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from spine_rt.errors import InputError

Shape = tuple[int | None, ...]


def format_dims(dims: Sequence[object]) -> str:
    """``(2, 21, 192)`` / ``(N,)`` / ``()``: a shape written the way Python writes tuples."""
    text = ", ".join(str(d) for d in dims)
    return f"({text},)" if len(dims) == 1 else f"({text})"


@dataclass(frozen=True)
class TensorSpec:
    """What one input or output of a runner looks like.

    Attributes:
        name: the tensor's name in the model (the key of ``infer``'s feed and result).
        shape: one entry per axis, an ``int`` for a static size or ``None`` for a
            dynamic one; ``None`` instead of a tuple when even the rank is unknown.
        dtype: numpy dtype (``np.float32``, ``np.int64``, ...), ``None`` for any.
        dim_names: optional labels of the dynamic axes (ONNX symbolic dims such
            as ``"batch"``), used only in messages; not part of equality.

    Raises:
        InputError: a negative size, a non-integer size or an unknown dtype.
    """

    name: str
    shape: Shape | None
    dtype: np.dtype | None
    dim_names: tuple[str | None, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a tensor name must be a non-empty string, got {self.name!r}")
        if self.shape is not None:
            object.__setattr__(self, "shape", _checked_shape(self.name, self.shape))
        if self.dtype is not None:
            try:
                object.__setattr__(self, "dtype", np.dtype(self.dtype))
            except TypeError:
                raise InputError(f"tensor {self.name!r}: {self.dtype!r} is not a numpy dtype") from None
        if self.dim_names is not None:
            names = tuple(self.dim_names)
            if self.shape is None or len(names) != len(self.shape):
                raise InputError(f"tensor {self.name!r}: dim_names {names} do not match shape {self.shape}")
            object.__setattr__(self, "dim_names", names)

    @property
    def rank(self) -> int | None:
        """Number of axes, ``None`` when unknown."""
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        """True when the rank and every size are known."""
        return self.shape is not None and all(d is not None for d in self.shape)

    def dim_labels(self) -> tuple[str, ...]:
        """Each axis as text: its size, or a label for a dynamic axis (``N`` for axis 0, ``d2`` ...)."""
        if self.shape is None:
            return ()
        labels = []
        for axis, size in enumerate(self.shape):
            if size is not None:
                labels.append(str(size))
            elif self.dim_names is not None and self.dim_names[axis]:
                labels.append(str(self.dim_names[axis]))
            else:
                labels.append("N" if axis == 0 else f"d{axis}")
        return tuple(labels)

    def describe(self) -> str:
        """One line such as ``float32 (N, 21, 192, 192, 12) [N dynamic]``."""
        dtype = "any dtype" if self.dtype is None else self.dtype.name
        if self.shape is None:
            return f"{dtype} (any shape)"
        labels = self.dim_labels()
        dynamic = [label for label, size in zip(labels, self.shape) if size is None]
        unique_dynamic = list(dict.fromkeys(dynamic))
        suffix = f" [{', '.join(unique_dynamic)} dynamic]" if unique_dynamic else ""
        return f"{dtype} {format_dims(labels)}{suffix}"

    def mismatch(self, dtype_name: str, shape: tuple[int, ...]) -> str | None:
        """Why a tensor of ``dtype_name`` and ``shape`` does not fit this spec, or ``None`` if it does.

        ``dtype_name`` is numpy's name of the dtype (``"float32"``, ``"bool"``).
        """
        if self.dtype is not None and dtype_name != self.dtype.name:
            return f"dtype {dtype_name} is not {self.dtype.name}"
        if self.shape is None:
            return None
        if len(shape) != len(self.shape):
            return f"rank {len(shape)} is not {len(self.shape)}"
        for axis, (got, want) in enumerate(zip(shape, self.shape)):
            if want is not None and got != want:
                return f"axis {axis} has size {got}, expected {want}"
        return None


def _checked_shape(name: str, shape: Any) -> Shape:
    try:
        dims = tuple(shape)
    except TypeError:
        raise InputError(f"tensor {name!r}: shape must be a sequence of sizes, got {shape!r}") from None
    checked: list[int | None] = []
    for size in dims:
        if size is None:
            checked.append(None)
        elif isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 0:
            checked.append(int(size))
        else:
            raise InputError(f"tensor {name!r}: sizes must be non-negative integers or None, got {shape!r}")
    return tuple(checked)
