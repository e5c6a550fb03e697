"""Dice + cross-entropy on integer label maps (SEEDS: weight 1 each, background included).

A thin wrapper of ``monai.losses.DiceCELoss`` (softmax, one-hot targets;
the Dice of each class is taken over the whole batch, so a class missing
from one crop does not turn every false positive there into a Dice of 0; a
class absent from the batch and its prediction counts as a perfect Dice)
that takes the label map as ``(N, *spatial)`` integers and computes in
float32 even under autocast.
"""

from __future__ import annotations

import torch
from torch import nn

from spine_rt.dependencies import require


class DiceCrossEntropyLoss(nn.Module):
    """``loss(logits (N, C, *spatial), labels (N, *spatial) int64) -> scalar``.

    Args:
        dice_weight / cross_entropy_weight: the two terms' weights (1 and 1).
    """

    def __init__(self, dice_weight: float = 1.0, cross_entropy_weight: float = 1.0) -> None:
        super().__init__()
        losses = require("monai.losses", "training with Dice + cross-entropy")
        self.loss = losses.DiceCELoss(
            include_background=True, to_onehot_y=True, softmax=True, batch=True,
            lambda_dice=float(dice_weight), lambda_ce=float(cross_entropy_weight),
        )

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss(logits.float(), labels.unsqueeze(1))
