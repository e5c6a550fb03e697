"""The training losses: Dice + cross-entropy, and cross pseudo supervision with CutMix.

**Dice + cross-entropy.** Dice + cross-entropy on integer label maps (SEEDS: weight 1 each,
background included).

A thin wrapper of ``monai.losses.DiceCELoss`` (softmax, one-hot targets;
the Dice of each class is taken over the whole batch, so a class missing
from one crop does not turn every false positive there into a Dice of 0; a
class absent from the batch and its prediction counts as a perfect Dice)
that takes the label map as ``(N, *spatial)`` integers and computes in
float32 even under autocast.

**Cross pseudo supervision.** Cross pseudo supervision with CutMix (SEEDS: stage one's two branches
supervise each other).

For a labelled batch ``x, y`` and unlabelled pairs ``(u_a, u_b)`` with CutMix
masks ``m`` (true = take ``u_b``):

1. without gradients, each branch predicts both unlabelled images; its
   argmax, mixed with the same masks, is that branch's pseudo-label of the
   mixed image: ``p_k = where(m, argmax f_k(u_b), argmax f_k(u_a))``;
2. both branches predict the labelled images and the mixed images
   ``u_m = where(m, u_b, u_a)`` in one forward pass;
3. loss = DiceCE(f_1(x), y) + DiceCE(f_2(x), y)
   + w * (CE(f_1(u_m), p_2) + CE(f_2(u_m), p_1)), ``w = 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from spine_rt.dependencies import require


# -- Dice + cross-entropy ----------------------------------------------------------------------------

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


# -- cross pseudo supervision ------------------------------------------------------------------------

@dataclass(frozen=True)
class CpsBatch:
    """One CPS step's inputs (tensors on the training device).

    Attributes:
        images: ``(B, 3, X, Y)`` labelled samples.
        labels: ``(B, X, Y)`` int64 class ids.
        unlabelled_first / unlabelled_second: ``(U, 3, X, Y)`` the two images of each unlabelled pair.
        masks: ``(U, 1, X, Y)`` bool CutMix masks (true: the second image).
    """

    images: torch.Tensor
    labels: torch.Tensor
    unlabelled_first: torch.Tensor
    unlabelled_second: torch.Tensor
    masks: torch.Tensor


def mix(first: torch.Tensor, second: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """CutMix: ``second`` where ``masks`` is true, ``first`` elsewhere (masks broadcast over channels)."""
    return torch.where(masks, second, first)


class CrossPseudoSupervisionLoss(nn.Module):
    """``loss(pair, batch) -> (total, {"supervised": ..., "cps": ...})`` (see the module docstring).

    Args:
        cps_weight: ``w``, the weight of the cross pseudo supervision term (1).
    """

    def __init__(self, cps_weight: float = 1.0) -> None:
        super().__init__()
        self.cps_weight = float(cps_weight)
        self.supervised = DiceCrossEntropyLoss()

    @torch.no_grad()
    def pseudo_labels(self, pair: nn.Module, batch: CpsBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Each branch's mixed pseudo-labels ``(U, X, Y)`` int64: ``(p_1, p_2)``."""
        count = batch.unlabelled_first.shape[0]
        logits1, logits2 = pair.branch_logits(torch.cat([batch.unlabelled_first, batch.unlabelled_second]))
        masks = batch.masks[:, 0]
        pseudo = []
        for logits in (logits1, logits2):
            argmax = logits.argmax(dim=1)
            pseudo.append(torch.where(masks, argmax[count:], argmax[:count]))
        return pseudo[0], pseudo[1]

    def forward(self, pair: nn.Module, batch: CpsBatch) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        pseudo1, pseudo2 = self.pseudo_labels(pair, batch)
        mixed = mix(batch.unlabelled_first, batch.unlabelled_second, batch.masks)
        labelled = batch.images.shape[0]
        logits1, logits2 = pair.branch_logits(torch.cat([batch.images, mixed]))
        supervised = self.supervised(logits1[:labelled], batch.labels) + self.supervised(logits2[:labelled], batch.labels)
        cps = (F.cross_entropy(logits1[labelled:].float(), pseudo2)
               + F.cross_entropy(logits2[labelled:].float(), pseudo1))
        total = supervised + self.cps_weight * cps
        return total, {"supervised": supervised.detach(), "cps": cps.detach()}
