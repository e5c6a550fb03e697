"""Parameter and FLOP counts of a network, without computing anything when built on the meta device.

FLOP convention: :func:`forward_flops` reports what
``torch.utils.flop_counter.FlopCounterMode`` counts, i.e. **2 FLOPs per
multiply-accumulate** in convolutions and matrix products (``bmm``/``mm``);
normalisation, activations, softmax, pooling and interpolation are not
counted. ``forward_flops(...) / 2`` is the multiply-accumulate count that
thop/fvcore call "FLOPs". With this convention the full stage two costs
343.7 GFLOP per 192 x 192 x 12 patch, the reference figure.

Build full-size networks on the meta device to count them in milliseconds::

    with torch.device("meta"):
        model = build("stage2", "full")
    forward_flops(model, (1, 21, 192, 192, 12), (1, 512, 48, 48, 12))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def parameter_count(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN statistics excluded)."""
    return sum(parameter.numel() for parameter in model.parameters())


def forward_flops(model: nn.Module, *input_shapes: Sequence[int]) -> int:
    """FLOPs (2 per multiply-accumulate) of one ``model(*inputs)`` call in eval mode.

    Inputs of ``input_shapes`` are created empty on the model's device; on
    the meta device nothing is computed. The model is left in eval mode.
    """
    device = next(model.parameters()).device
    inputs = [torch.empty(tuple(shape), device=device) for shape in input_shapes]
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())
