"""Dimension-generic layer constructors: one name for the 2D and 3D variants.

The stage-one network is 2D ``(N, C, X, Y)`` and the stage-two network 3D
``(N, C, X, Y, Z)``; the blocks they share (SE-ResNeXt bottleneck, DeepLabv3+
decoder) pick their layer types here from ``dims`` (2 or 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def as_tuple(value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    """``3 -> (3, 3)`` for ``dims=2``; a sequence is returned as a tuple of length ``dims``."""
    if isinstance(value, int):
        return (value,) * dims
    result = tuple(int(item) for item in value)
    if len(result) != dims:
        raise ValueError(f"expected {dims} values, got {result}")
    return result


def same_padding(kernel_size: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Padding that keeps the size of an odd kernel at stride 1: ``dilation * (k // 2)`` per axis."""
    return tuple(rate * (size // 2) for size, rate in zip(kernel_size, dilation))


def conv(dims: int, *args, **kwargs) -> nn.Module:
    """``nn.Conv2d`` or ``nn.Conv3d`` with the given arguments."""
    return (nn.Conv2d if dims == 2 else nn.Conv3d)(*args, **kwargs)


def batch_norm(dims: int, channels: int) -> nn.Module:
    """``nn.BatchNorm2d`` or ``nn.BatchNorm3d``."""
    return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)


def global_average_pool(dims: int) -> nn.Module:
    """Global average pooling to size 1 on every spatial axis (ONNX ``GlobalAveragePool``)."""
    return (nn.AdaptiveAvgPool2d if dims == 2 else nn.AdaptiveAvgPool3d)(1)


def max_pool(dims: int, kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int]) -> nn.Module:
    """``nn.MaxPool2d`` or ``nn.MaxPool3d``."""
    return (nn.MaxPool2d if dims == 2 else nn.MaxPool3d)(kernel_size, stride=stride, padding=padding)


def conv_bn_relu(
    dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int] = 1,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> nn.Sequential:
    """Convolution (no bias, "same" padding for odd kernels) -> batch norm -> ReLU."""
    kernel = as_tuple(kernel_size, dims)
    rates = as_tuple(dilation, dims)
    return nn.Sequential(
        conv(dims, in_channels, out_channels, kernel, stride=stride,
             padding=same_padding(kernel, rates), dilation=rates, bias=False),
        batch_norm(dims, out_channels),
        nn.ReLU(inplace=True),
    )
