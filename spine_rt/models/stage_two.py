"""SSHSNet stage two: 3D DeepLabv3+ on full-resolution patches with cross tri-attention.

Axis order ``(N, C, X, Y, Z)``: ``X, Y`` in-plane, ``Z`` across the sagittal
slices (last), as in SEEDS' "192 x 192 x 12 (in-plane x in-plane x slices)";
kernel sizes such as ``(3, 3, 1)`` are written in the same order.

Inputs of one patch (patch size ``(X, Y, Z)`` = ``(192, 192, 12)``):

* ``image``: ``(N, 21, X, Y, Z)`` = the MR patch (1 channel) followed by
  the mean stage-one softmax of both branches (20 channels), at full
  resolution;
* ``stage_one_features``: ``(N, 512, X/4, Y/4, Z)`` = both stage-one
  branches' 256-channel decoder maps concatenated, cropped to the patch
  (at 1/4 of the full in-plane resolution).

Output: logits ``(N, num_classes, X, Y, Z)``.

Path: anisotropic 3D SE-ResNeXt-50 encoder -> 3D DeepLabv3+ decoder (F3,
``(N, 256, X/4, Y/4, Z)``); stage-one features -> ``(3, 3, 1)`` conv
512 -> 256 + BN + ReLU (F2); cross tri-attention (512 ch) -> ``(3, 3, 1)``
conv 512 -> 256 + BN + ReLU -> 1x1x1 conv to the classes (with bias) ->
trilinear x(4, 4, 1) upsampling (``align_corners=True``) to the patch size.

The full preset has 33,069,015 parameters, the figure of the authors'
network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spine_rt.errors import InputError
from spine_rt.models.cross_tri_attention import CrossTriAttention
from spine_rt.models.deeplab_decoder import DeepLabV3PlusDecoder
from spine_rt.models.input_shape import require_shape
from spine_rt.models.layers import conv_bn_relu
from spine_rt.models.linear_upsampling import upsample_linear
from spine_rt.models.overrides import apply_overrides, select_preset
from spine_rt.models.se_resnext3d import SEResNeXtEncoder3d

#: In-plane output stride of the encoder; the decoder works at 1/4 in-plane.
OUTPUT_STRIDE = 16
FEATURE_STRIDE = 4


@dataclass(frozen=True)
class StageTwoConfig:
    """Configuration of stage two (full preset = the paper network).

    ``patch_size`` is ``(X, Y, Z)``; ``X`` and ``Y`` must be multiples of 16.
    The attention is built for this patch size and the network accepts no
    other. ``stage_one_feature_channels`` must equal the stage-one pair's
    ``feature_channels`` (``2 * decoder_channels`` of stage one).
    """

    in_channels: int = 21
    num_classes: int = 20
    patch_size: tuple[int, int, int] = (192, 192, 12)
    stage_one_feature_channels: int = 512
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
    attention_key_channels: int = 32

    @property
    def feature_grid(self) -> tuple[int, int, int]:
        """``(X/4, Y/4, Z)``: the grid of the decoder output and of the stage-one features."""
        size_x, size_y, size_z = self.patch_size
        return size_x // FEATURE_STRIDE, size_y // FEATURE_STRIDE, size_z


#: ``full``: the paper network; ``tiny``: every block and connection, narrow and shallow,
#: matching the tiny stage-one pair (2 x 32 feature channels).
STAGE_TWO_PRESETS: dict[str, StageTwoConfig] = {
    "full": StageTwoConfig(),
    "tiny": StageTwoConfig(
        stage_one_feature_channels=64,
        stem_channels=8,
        stage_channels=(16, 32, 64, 128),
        bottleneck_widths=(8, 16, 32, 64),
        blocks_per_stage=(1, 2, 1, 1),
        groups=4,
        se_reduction=4,
        decoder_channels=32,
        skip_channels=8,
        attention_key_channels=4,
    ),
}


class StageTwoNet(nn.Module):
    """Stage two of SSHSNet (see the module docstring for shapes and the path).

    ``forward(image, stage_one_features)`` -> logits ``(N, num_classes, X, Y, Z)``.

    Raises:
        InputError: ``image`` is not ``(N, in_channels, *patch_size)`` or
            ``stage_one_features`` not ``(N, stage_one_feature_channels, X/4, Y/4, Z)``.
    """

    input_names: tuple[str, ...] = ("image", "stage_one_features")
    output_names: tuple[str, ...] = ("logits",)

    def __init__(self, config: StageTwoConfig) -> None:
        super().__init__()
        size_x, size_y, size_z = config.patch_size
        if size_x % OUTPUT_STRIDE or size_y % OUTPUT_STRIDE or size_z < 1:
            raise InputError(
                f"stage two: patch_size {config.patch_size} must be (X, Y, Z) with X and Y "
                f"multiples of {OUTPUT_STRIDE}"
            )
        self.config = config
        self.encoder = SEResNeXtEncoder3d(
            config.in_channels, config.stem_channels, config.stage_channels, config.bottleneck_widths,
            config.blocks_per_stage, config.groups, config.se_reduction,
        )
        self.decoder = DeepLabV3PlusDecoder(
            dims=3,
            high_level_channels=config.stage_channels[3],
            low_level_channels=config.stage_channels[0],
            channels=config.decoder_channels,
            skip_channels=config.skip_channels,
            atrous_rates=config.atrous_rates,
            aspp_kernel_size=(3, 3, 3),
            fuse_kernel_size=(3, 3, 1),
            upsample_scale=(4, 4, 1),
            dropout=config.dropout,
        )
        self.stage_one_projection = conv_bn_relu(
            3, config.stage_one_feature_channels, config.decoder_channels, (3, 3, 1))
        self.attention = CrossTriAttention(config.decoder_channels, config.attention_key_channels,
                                           config.feature_grid)
        self.fusion = conv_bn_relu(3, 2 * config.decoder_channels, config.decoder_channels, (3, 3, 1))
        self.head = nn.Conv3d(config.decoder_channels, config.num_classes, 1)

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Random ``(image, stage_one_features)`` of the configured patch on the model's device."""
        config = self.config
        device = next(self.parameters()).device
        return (
            torch.randn(batch_size, config.in_channels, *config.patch_size, device=device),
            torch.randn(batch_size, config.stage_one_feature_channels, *config.feature_grid, device=device),
        )

    def check_inputs(self, image: torch.Tensor, stage_one_features: torch.Tensor) -> None:
        """Raise :class:`InputError` unless both inputs have the shapes of the configured patch."""
        config = self.config
        require_shape(image, (None, config.in_channels, *config.patch_size), "image", "stage two")
        require_shape(stage_one_features, (None, config.stage_one_feature_channels, *config.feature_grid),
                      "stage_one_features", "stage two")

    def forward(self, image: torch.Tensor, stage_one_features: torch.Tensor) -> torch.Tensor:
        self.check_inputs(image, stage_one_features)
        features_3d = self.decoder(*self.encoder(image))
        features_2d = self.stage_one_projection(stage_one_features)
        fused = self.fusion(self.attention(features_2d, features_3d))
        return upsample_linear(self.head(fused), (4.0, 4.0, 1.0))


def stage_two_config(preset: str = "full", **overrides: Any) -> StageTwoConfig:
    """The :class:`StageTwoConfig` of ``preset`` with ``overrides`` applied.

    Raises:
        InputError: unknown preset or field.
    """
    return apply_overrides(select_preset(STAGE_TWO_PRESETS, preset, "stage two"), overrides)


def build_stage_two(preset: str = "full", **overrides: Any) -> StageTwoNet:
    """Stage two (registry name ``stage2``)."""
    return StageTwoNet(stage_two_config(preset, **overrides))
