"""``upsample_linear``: (bi/tri)linear upsampling that exported graphs run fast.

``F.interpolate(x, scale_factor=s, mode="trilinear", align_corners=True)``
exports to one ONNX ``Resize``. onnxruntime's CPU ``Resize`` took 21 % of
the stage-two graph (two of them: the decoder's and the head's x4 in-plane
upsampling; ``benchmarks/RESULTS.md``). Linear interpolation along one axis
is a product with a constant ``(n_out, n_in)`` matrix, so while a graph is
exported (``torch.onnx`` or ``torch.export``) the upsampling is written as
one ``Einsum`` per scaled axis with constant interpolation matrices, which
onnxruntime ran in 50 ms instead of 86 ms on ``(4, 20, 48, 48, 12) -> x4``
in-plane; the values equal ``F.interpolate``'s to float rounding. In eager
PyTorch (training, the torch backend, the baselines) it is ``F.interpolate``
itself.

Only ``align_corners=True`` (what the networks use): output voxel ``o`` of
an axis of ``n_in -> n_out`` voxels samples input position
``o * (n_in - 1) / (n_out - 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from spine_rt.models.export_tracing import exporting

_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}
#: subscripts of the spatial axes in the exported Einsum equations
_SPATIAL_LETTERS = "xyz"


def upsample_linear(x: torch.Tensor, scale_factor: Sequence[float]) -> torch.Tensor:
    """Upsample ``x`` ``(N, C, *spatial)`` by ``scale_factor`` per spatial axis, linear, align_corners=True."""
    scales = tuple(float(s) for s in scale_factor)
    if not exporting():
        return F.interpolate(x, scale_factor=scales, mode=_MODES[len(scales)], align_corners=True)
    letters = "nc" + _SPATIAL_LETTERS[: len(scales)]
    for axis, scale in enumerate(scales):
        size_in = int(x.shape[2 + axis])
        size_out = int(math.floor(size_in * scale))
        if size_out == size_in:
            continue
        letter = letters[2 + axis]
        matrix = interpolation_matrix(size_in, size_out, x.dtype, x.device)
        x = torch.einsum(f"{letters},w{letter}->{letters.replace(letter, 'w')}", x, matrix)
    return x


def interpolation_matrix(size_in: int, size_out: int, dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """``(size_out, size_in)``: row ``o`` holds the linear weights of output ``o`` (align_corners=True).

    Built from ``arange`` and comparisons (no tensor from host data), so both
    ONNX exporters trace it and fold it into a constant.
    """
    step = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    position = torch.arange(size_out, dtype=dtype, device=device) * step
    lower = position.floor().clamp(max=size_in - 1)
    upper = (lower + 1).clamp(max=size_in - 1)
    weight = (position - lower)[:, None]
    columns = torch.arange(size_in, dtype=dtype, device=device)[None, :]
    return (columns == lower[:, None]).to(dtype) * (1 - weight) + (columns == upper[:, None]).to(dtype) * weight
