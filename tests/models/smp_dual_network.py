"""Build the SSHSNet authors' stage one from segmentation_models_pytorch and save it the way they do.

Run as a script in a subprocess whose PYTHONPATH holds the torchvision shim
(``tests/conftest.py: smp_environment``); never imported by the test process::

    python smp_dual_network.py OUT SEED X Y

Writes ``OUT/M0.9.pkl`` = ``torch.save(nn.DataParallel(dual).state_dict())``
where ``dual`` holds ``branch1`` and ``branch2``, each smp ``DeepLabV3Plus(
"se_resnext50_32x4d", encoder_weights=None, classes=20, encoder_output_stride=16,
decoder_atrous_rates=(12, 24, 36))`` with seeded random weights and randomised
batch-norm statistics; ``OUT/reference.npz`` with an input ``slices`` ``(2, 3,
X, Y)`` and what stage two consumes from it: ``probabilities`` = the mean of
both branches' softmax, ``features`` = both decoder maps concatenated (branch 1
first); and ``smp_version``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch import nn


class DualNetwork(nn.Module):
    """Two DeepLabv3+ branches under the names the authors' checkpoints use."""

    def __init__(self) -> None:
        super().__init__()
        self.branch1 = self._branch()
        self.branch2 = self._branch()

    @staticmethod
    def _branch() -> nn.Module:
        return smp.DeepLabV3Plus(encoder_name="se_resnext50_32x4d", encoder_weights=None, classes=20,
                                 encoder_output_stride=16, decoder_atrous_rates=(12, 24, 36))

    def stage_two_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities, features = [], []
        for branch in (self.branch1, self.branch2):
            decoder_map = branch.decoder(*branch.encoder(x))
            probabilities.append(torch.softmax(branch.segmentation_head(decoder_map), dim=1))
            features.append(decoder_map)
        return (probabilities[0] + probabilities[1]) / 2, torch.cat(features, dim=1)


#: the heads' weights are scaled by this so the softmax is far from uniform (a stronger comparison)
HEAD_GAIN = 10.0


def randomise(network: DualNetwork, generator: torch.Generator) -> None:
    """Seeded weights (N(0, 1/fan_in) for convolutions) and batch norms away from the identity."""
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
        for branch in (network.branch1, network.branch2):  # logits spread enough for a peaked softmax
            branch.segmentation_head[0].weight.mul_(HEAD_GAIN)


def main() -> None:
    out, seed, size_x, size_y = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dual = DualNetwork()
    randomise(dual, generator)
    dual.eval()
    torch.save(nn.DataParallel(dual).state_dict(), out / "M0.9.pkl")
    slices = torch.randn(2, 3, size_x, size_y, generator=generator)
    with torch.no_grad():
        probabilities, features = dual.stage_two_inputs(slices)
    np.savez(out / "reference.npz", slices=slices.numpy(), probabilities=probabilities.numpy(),
             features=features.numpy(), smp_version=np.array(smp.__version__))


if __name__ == "__main__":
    main()
