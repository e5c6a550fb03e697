"""Cheap input checks inside ``forward`` that survive ONNX export.

The checks compare only static facts (rank, channel count, spatial sizes the
network was built for); the batch dimension is never checked, so it stays
dynamic when exported with ``torch.onnx.export``. Under the torch.export
(dynamo) exporter the comparisons are on static integers and add no nodes to
the graph; under the legacy TorchScript tracer (``dynamo=False``) they are
skipped, as tracing would only record them as constants (with warnings).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spine_rt.errors import InputError


def describe_expected(expected: Sequence[int | str | None]) -> str:
    """``(N, 21, 192, 192, 12)``-style text for an expected shape (``None`` = any size)."""
    return "(" + ", ".join("N" if index == 0 else ("*" if size is None else str(size))
                           for index, size in enumerate(expected)) + ")"


def require_shape(tensor: torch.Tensor, expected: Sequence[int | None], name: str, network: str) -> None:
    """Raise :class:`InputError` unless ``tensor`` has the shape ``expected``.

    ``expected`` lists every dimension including the batch; ``None`` means
    any size (the batch entry is never checked).

    Raises:
        InputError: wrong rank or a wrong size; the message states the expected shape.
    """
    if torch.jit.is_tracing():
        return
    if tensor.dim() != len(expected):
        raise InputError(
            f"{network}: {name} must have shape {describe_expected(expected)} "
            f"(rank {len(expected)}), got rank {tensor.dim()} with shape {tuple(tensor.shape)}"
        )
    for index in range(1, len(expected)):
        wanted = expected[index]
        if wanted is not None and tensor.shape[index] != wanted:
            raise InputError(
                f"{network}: {name} must have shape {describe_expected(expected)}, "
                f"got {tuple(tensor.shape)}"
            )


def require_divisible(tensor: torch.Tensor, first_dim: int, divisor: int, name: str, network: str) -> None:
    """Raise :class:`InputError` unless every dimension from ``first_dim`` on is a multiple of ``divisor``.

    Raises:
        InputError: a spatial size is not divisible; the message names the sizes.
    """
    if torch.jit.is_tracing():
        return
    sizes = tuple(int(size) for size in tensor.shape[first_dim:])
    if any(size % divisor for size in sizes):
        raise InputError(
            f"{network}: {name} spatial sizes {sizes} must be multiples of {divisor} "
            f"(the network's output stride), got shape {tuple(tensor.shape)}"
        )
