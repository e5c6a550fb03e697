"""Untrained weights for ``--random-init`` exports (tests, benchmarks, the demo).

Convolutions and linear layers are drawn He-uniform (variance ``2 / fan_in``,
biases alike): torch's default (variance ``1 / (3 fan_in)``) shrinks the
activations layer by layer until every output is a near-uniform softmax, on
which argmax agreement measures ties rather than precision. torch's default
initialisation also leaves two things that would make a parity
check blind: batch norms are the identity (running mean 0, variance 1, scale
1, shift 0), so folding them into convolutions could be wrong unnoticed, and
the cross tri-attention gates ``g1..g3`` start at 0, so the attention does
not reach the output. :func:`randomize_for_export` therefore draws batch-norm
statistics and affine parameters near their identity values and sets every
scalar ``gamma`` gate to :data:`ATTENTION_GATE`. Everything is seeded.
"""

from __future__ import annotations

import torch
from torch import nn

#: Value of every scalar attention gate after random initialisation.
ATTENTION_GATE = 0.1
#: Half-widths/standard deviations of the batch-norm draws (near the identity).
BN_SCALE_SPREAD = 0.2
BN_SHIFT_STD = 0.05
BN_VARIANCE_SPREAD = 0.25


def randomize_for_export(model: nn.Module, seed: int) -> nn.Module:
    """Re-draw ``model``'s parameters from ``seed`` (in place; see the module docstring) and return it."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = (6.0 / fan_in) ** 0.5  # He-uniform: variance 2 / fan_in keeps ReLU activations O(1)
                module.weight.copy_(torch.empty_like(module.weight).uniform_(-bound, bound, generator=generator))
                if module.bias is not None:
                    module.bias.copy_(torch.empty_like(module.bias).uniform_(-bound, bound, generator=generator))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                channels = module.num_features
                module.weight.copy_(1 + BN_SCALE_SPREAD * (2 * torch.rand(channels, generator=generator) - 1))
                module.bias.copy_(BN_SHIFT_STD * torch.randn(channels, generator=generator))
                module.running_mean.copy_(BN_SHIFT_STD * torch.randn(channels, generator=generator))
                module.running_var.copy_(1 + BN_VARIANCE_SPREAD * (2 * torch.rand(channels, generator=generator) - 1))
        for name, parameter in model.named_parameters():
            if name.rsplit(".", 1)[-1] == "gamma" and parameter.numel() == 1:
                parameter.fill_(ATTENTION_GATE)
    return model
