"""SSHSNet stage one: 2D DeepLabv3+ with an SE-ResNeXt-50 (32x4d) encoder, and its CPS pair.

Axis order: a stage-one input is one sagittal slice with its two neighbours
as channels, ``(N, 3, X, Y)`` (``X, Y`` in-plane; slices ``z-1, z, z+1``,
edge slices repeated). ``X`` and ``Y`` must be multiples of 16 (the output
stride); training crops are 256 x 512 at half the in-plane resolution of
stage two (0.69 mm).

The full preset has 28,685,332 parameters per branch, the figure of the
authors' network (segmentation_models_pytorch ``DeepLabV3Plus`` with
``se_resnext50_32x4d``, 20 classes): encoder without the ImageNet head
(25,510,896), ASPP with bias-free separable convolutions, one batch norm
after each separable convolution, a 1x1 head with bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spine_rt.models.channel_softmax import channel_softmax
from spine_rt.models.deeplab_decoder import DeepLabV3PlusDecoder
from spine_rt.models.input_shape import require_divisible, require_shape
from spine_rt.models.linear_upsampling import upsample_linear
from spine_rt.models.overrides import apply_overrides, select_preset
from spine_rt.models.se_resnext import SEResNeXtEncoder2d


@dataclass(frozen=True)
class StageOneConfig:
    """Configuration of one stage-one branch (full preset = the paper network).

    ``decoder_channels`` is the width of the returned feature map; a CPS pair
    returns ``2 * decoder_channels`` feature channels, which stage two takes
    as ``stage_one_feature_channels``.

    ``stem_pool`` is the encoder stem's max-pool layout
    (:class:`~spine_rt.models.se_resnext.SEResNeXtEncoder2d`): ``"same"``
    (padding 1; spine-rt's default, what existing packages were exported
    with) or ``"ceil"`` (no padding, ceil mode: the encoder of the SSHSNet
    authors' segmentation_models_pytorch networks, set when their checkpoints
    are loaded). Both have the same parameters.
    """

    in_channels: int = 3
    num_classes: int = 20
    stem_channels: int = 64
    stage_channels: tuple[int, int, int, int] = (256, 512, 1024, 2048)
    bottleneck_widths: tuple[int, int, int, int] = (128, 256, 512, 1024)
    blocks_per_stage: tuple[int, int, int, int] = (3, 4, 6, 3)
    groups: int = 32
    se_reduction: int = 16
    decoder_channels: int = 256
    skip_channels: int = 48
    atrous_rates: tuple[int, int, int] = (12, 24, 36)
    dropout: float = 0.5
    stem_pool: str = "same"


#: ``full``: the paper network; ``tiny``: every block and connection, narrow and shallow.
STAGE_ONE_PRESETS: dict[str, StageOneConfig] = {
    "full": StageOneConfig(),
    "tiny": StageOneConfig(
        stem_channels=8,
        stage_channels=(16, 32, 64, 128),
        bottleneck_widths=(8, 16, 32, 64),
        blocks_per_stage=(1, 2, 1, 1),
        groups=4,
        se_reduction=4,
        decoder_channels=32,
        skip_channels=8,
    ),
}

OUTPUT_STRIDE = 16


class StageOneNet(nn.Module):
    """One stage-one branch: 2D DeepLabv3+ (output stride 16) + 1x1 head + x4 bilinear upsampling.

    ``forward(x)``: ``x`` is ``(N, in_channels, X, Y)``, ``X, Y`` multiples
    of 16. Returns ``(features, logits)``: the decoder map ``(N,
    decoder_channels, X/4, Y/4)`` and ``(N, num_classes, X, Y)`` logits.

    Raises:
        InputError: wrong rank, channel count, or a size not divisible by 16.
    """

    input_names: tuple[str, ...] = ("slices",)
    output_names: tuple[str, ...] = ("features", "logits")

    def __init__(self, config: StageOneConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SEResNeXtEncoder2d(
            config.in_channels, config.stem_channels, config.stage_channels, config.bottleneck_widths,
            config.blocks_per_stage, config.groups, config.se_reduction, config.stem_pool,
        )
        self.decoder = DeepLabV3PlusDecoder(
            dims=2,
            high_level_channels=config.stage_channels[3],
            low_level_channels=config.stage_channels[0],
            channels=config.decoder_channels,
            skip_channels=config.skip_channels,
            atrous_rates=config.atrous_rates,
            aspp_kernel_size=3,
            fuse_kernel_size=3,
            upsample_scale=(4, 4),
            dropout=config.dropout,
        )
        self.head = nn.Conv2d(config.decoder_channels, config.num_classes, 1)

    def example_inputs(self, batch_size: int = 1, size: tuple[int, int] = (256, 512)) -> tuple[torch.Tensor]:
        """Random inputs ``((batch_size, in_channels, *size),)`` on the model's device (for export)."""
        device = next(self.parameters()).device
        return (torch.randn(batch_size, self.config.in_channels, *size, device=device),)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is ``(N, in_channels, X, Y)`` with ``X, Y % 16 == 0``."""
        require_shape(x, (None, self.config.in_channels, None, None), "input", "stage one")
        require_divisible(x, 2, OUTPUT_STRIDE, "input", "stage one")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_input(x)
        features = self.decoder(*self.encoder(x))
        logits = upsample_linear(self.head(features), (4.0, 4.0))
        return features, logits


class StageOnePair(nn.Module):
    """Two stage-one branches with different initialisation, trained with cross pseudo supervision.

    ``forward(x)``: ``x`` is ``(N, in_channels, X, Y)``. Returns what stage
    two consumes: ``(probabilities, features)`` = the mean of both branches'
    softmax ``(N, num_classes, X, Y)`` and both feature maps concatenated
    (branch 1 first) ``(N, 2 * decoder_channels, X/4, Y/4)``. To feed stage
    two, run the slices of a volume as the batch and stack them along a last
    ``Z`` axis (:func:`spine_rt.models.slice_stack.slices_to_volume`); where
    stage one ran at half in-plane resolution, upsample both x2 first.

    For training, :meth:`branch_outputs` returns each branch's ``(features,
    logits)`` and :meth:`branch_logits` only the logits.
    """

    input_names: tuple[str, ...] = ("slices",)
    output_names: tuple[str, ...] = ("probabilities", "features")

    def __init__(self, config: StageOneConfig) -> None:
        super().__init__()
        self.config = config
        self.branch1 = StageOneNet(config)
        self.branch2 = StageOneNet(config)

    def example_inputs(self, batch_size: int = 1, size: tuple[int, int] = (256, 512)) -> tuple[torch.Tensor]:
        """Random inputs ``((batch_size, in_channels, *size),)`` on the model's device (for export)."""
        return self.branch1.example_inputs(batch_size, size)

    @property
    def feature_channels(self) -> int:
        """Channels of the concatenated feature map (``2 * decoder_channels``)."""
        return 2 * self.config.decoder_channels

    def branch_outputs(self, x: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                       tuple[torch.Tensor, torch.Tensor]]:
        """``((features1, logits1), (features2, logits2))``, shapes as in :class:`StageOneNet`."""
        return self.branch1(x), self.branch2(x)

    def branch_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits1, logits2)``, each ``(N, num_classes, X, Y)`` (for the CPS losses)."""
        (_, logits1), (_, logits2) = self.branch_outputs(x)
        return logits1, logits2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (features1, logits1), (features2, logits2) = self.branch_outputs(x)
        probabilities = 0.5 * (channel_softmax(logits1) + channel_softmax(logits2))
        return probabilities, torch.cat([features1, features2], dim=1)


def stage_one_config(preset: str = "full", **overrides: Any) -> StageOneConfig:
    """The :class:`StageOneConfig` of ``preset`` with ``overrides`` applied.

    Raises:
        InputError: unknown preset or field.
    """
    return apply_overrides(select_preset(STAGE_ONE_PRESETS, preset, "stage one"), overrides)


def build_stage_one(preset: str = "full", **overrides: Any) -> StageOneNet:
    """One stage-one branch (registry name ``stage1``)."""
    return StageOneNet(stage_one_config(preset, **overrides))


def build_stage_one_pair(preset: str = "full", **overrides: Any) -> StageOnePair:
    """The CPS pair of two stage-one branches (registry name ``stage1_pair``)."""
    return StageOnePair(stage_one_config(preset, **overrides))
