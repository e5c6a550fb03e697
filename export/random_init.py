"""Untrained weights for ``--random-init`` exports (tests, benchmarks, the demo).

An untrained network should behave numerically like a trained one, or the
export's FP16 parity check measures the wrong thing (figures: full sshsnet,
ORT FP16 vs torch FP32):

* convolutions and linear layers are drawn He-uniform (variance
  ``2 / fan_in``, biases alike); torch's default (``1 / (3 fan_in)``)
  shrinks activations layer by layer to a near-uniform softmax, where argmax
  agreement measures ties, not precision;
* batch-norm statistics are **calibrated** on real-looking inputs (one
  forward pass with the batch norms in training mode, cumulative average),
  so every batch norm normalises its input as a trained one does; with
  identity statistics activations grow by orders of magnitude through the
  residual stages. A batch norm on globally pooled features (ASPP image
  pooling) sees one value per channel and input, and a few similar inputs
  give it a tiny variance that amplifies FP16 noise (ASPP output 8e-3
  relative error instead of 1.4e-3); it gets the second moment instead;
* batch-norm scales and shifts are drawn near 1 and 0, so folding them into
  the convolutions is exercised; the last batch norm of every SE-ResNeXt
  residual branch (``bn3``) is scaled by :data:`RESIDUAL_BRANCH_SCALE`, as
  trained residual networks damp their branches (cf. zero-initialised
  residual gammas): a random 50-layer network with full-strength branches is
  chaotic and amplifies FP16 rounding (stage one: relative error 2.5e-2 and
  99.2 % argmax agreement, instead of 3e-3 and 99.7 %);
* branch 2 of a stage-one CPS pair is branch 1 with every parameter
  perturbed by :data:`CPS_BRANCH_PERTURBATION` (relative, seeded): CPS
  training makes the branches agree, while two independent random branches
  make the mean softmax a near-tie at most pixels;
* the cross tri-attention gates ``g1..g3`` (scalar ``gamma`` parameters,
  0 at construction) are set to :data:`ATTENTION_GATE`, so the attention
  reaches the output. The gate is small because the channel attention is a
  hard selection: its energies ``X X^T`` reach ~1e5, so ``softmax(rowmax(E)
  - E)`` is one-hot and FP16 noise in ``X`` (which FP32 attention cannot
  undo) switches the selected channel; with gates of 0.1 stage two's FP16
  logits differ by 3.4e-2. A trained stage two with a large ``g3`` can fail
  the FP16 check for the same reason (see the export's error message).

Everything is seeded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spine_rt.models.se_resnext import SEResNeXtBottleneck
from spine_rt.models.stage_one import StageOnePair

#: Value of every scalar attention gate after random initialisation.
ATTENTION_GATE = 0.01
#: Half-width of the batch-norm scale draw around 1 and std of the shift draw around 0.
BN_SCALE_SPREAD = 0.2
BN_SHIFT_STD = 0.05
#: Factor on the scale of the last batch norm of every residual branch.
RESIDUAL_BRANCH_SCALE = 0.1
#: Relative perturbation of branch 2 of a CPS pair with respect to branch 1.
CPS_BRANCH_PERTURBATION = 0.1

_BatchNorm = nn.modules.batchnorm._BatchNorm


def calibrate_batch_norms(model: nn.Module, inputs: Sequence[torch.Tensor]) -> None:
    """Set every batch norm's running mean/variance to the statistics of ``inputs`` (in place).

    One forward pass with only the batch norms in training mode (dropout
    stays off) and ``momentum=None`` (cumulative average); the model is left
    in eval mode. Inputs need a batch of at least 2. A batch norm on globally
    pooled features (one value per channel and input, e.g. ASPP's image
    pooling) gets the second moment as its variance instead.
    """
    norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    momenta = [module.momentum for module in norms]
    pooled: set[int] = set()

    def note_pooled_input(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if all(size == 1 for size in args[0].shape[2:]):
            pooled.add(id(module))

    hooks = [module.register_forward_pre_hook(note_pooled_input) for module in norms]
    model.eval()
    for module in norms:
        module.reset_running_stats()
        module.momentum = None
        module.train()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
        for module, momentum in zip(norms, momenta):
            module.momentum = momentum
            if id(module) in pooled:
                # one value per channel and scan: the spread across a few similar synthetic inputs is far
                # below the spread across real scans and would turn the norm into a large amplifier
                module.running_var.add_(module.running_mean.square())
        model.eval()


def randomize_for_export(model: nn.Module, seed: int,
                         calibration_inputs: Sequence[torch.Tensor] | None = None) -> nn.Module:
    """Re-draw ``model``'s parameters from ``seed`` (see the module docstring) and return it in eval mode.

    Args:
        model: the network (modified in place).
        seed: seed of every draw.
        calibration_inputs: real-looking inputs (batch >= 2) for the batch-norm
            statistics; ``None`` keeps identity statistics.
    """
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = (6.0 / fan_in) ** 0.5
                module.weight.copy_(torch.empty_like(module.weight).uniform_(-bound, bound, generator=generator))
                if module.bias is not None:
                    module.bias.copy_(torch.empty_like(module.bias).uniform_(-bound, bound, generator=generator))
            elif isinstance(module, _BatchNorm) and module.affine:
                channels = module.num_features
                module.weight.copy_(1 + BN_SCALE_SPREAD * (2 * torch.rand(channels, generator=generator) - 1))
                module.bias.copy_(BN_SHIFT_STD * torch.randn(channels, generator=generator))
        for module in model.modules():
            if isinstance(module, SEResNeXtBottleneck):
                module.bn3.weight.mul_(RESIDUAL_BRANCH_SCALE)
        if isinstance(model, StageOnePair):
            for first, second in zip(model.branch1.parameters(), model.branch2.parameters()):
                noise = torch.randn(first.shape, generator=generator)
                second.copy_(first * (1 + CPS_BRANCH_PERTURBATION * noise))
        for name, parameter in model.named_parameters():
            if name.rsplit(".", 1)[-1] == "gamma" and parameter.numel() == 1:
                parameter.fill_(ATTENTION_GATE)
    if calibration_inputs is not None:
        calibrate_batch_norms(model, calibration_inputs)
    return model.eval()
