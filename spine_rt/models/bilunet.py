"""BiLuNet: U-Net path + spatial path joined by a feature fusion module (lumbar X-ray segmentation).

Axis order ``(N, C, H, W)``: an RGB X-ray resized to 512 x 512, scaled to
[0, 1]. Classes: 0 background, 1 vertebra, 2 sacrum, 3 and 4 femoral heads.

* U-Net path: at each of six levels two 3x3 convolutions (with bias, SiLU =
  swish, the activation of the authors' implementation) of 32, 64, 128, 256,
  512, 1024 channels, 2x2 max-pool between levels; dropout 0.5 on the
  outputs of the two deepest levels. Up: nearest x2 upsampling, 2x2
  convolution (+ SiLU, zero-padded right/bottom to keep the size), concat
  with the skip, two 3x3 convolutions.
* Spatial path: three stride-2 2x2 convolutions (32, 64, 128 ch; + BN +
  ReLU) from the image down to 1/8 resolution.
* Feature fusion module at 1/8 (:class:`FeatureFusionModule`): its output
  replaces the U-Net skip of that level; the U-Net's own down path continues
  from the unfused features.
* Head: 3x3 convolution to the classes + SiLU, 1x1 convolution, softmax.

``H`` and ``W`` must be multiples of 32 (five poolings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from spine_rt.models.channel_softmax import channel_softmax
from spine_rt.models.input_shape import require_divisible, require_shape
from spine_rt.models.overrides import apply_overrides, select_preset

#: Input sizes must be multiples of this (five 2x2 poolings).
SIZE_MULTIPLE = 32
#: The spatial path meets the U-Net at this level (1/8 resolution).
FUSION_LEVEL = 3


@dataclass(frozen=True)
class BiLuNetConfig:
    """Configuration of BiLuNet (full preset = the paper network).

    ``fusion_channels`` is the output width of the feature fusion module
    (not given in the paper; 256 = the U-Net width at that level).
    """

    in_channels: int = 3
    num_classes: int = 5
    unet_channels: tuple[int, int, int, int, int, int] = (32, 64, 128, 256, 512, 1024)
    spatial_channels: tuple[int, int, int] = (32, 64, 128)
    fusion_channels: int = 256
    dropout: float = 0.5


BILUNET_PRESETS: dict[str, BiLuNetConfig] = {
    "full": BiLuNetConfig(),
    "tiny": BiLuNetConfig(unet_channels=(4, 8, 16, 32, 64, 128), spatial_channels=(4, 8, 16),
                          fusion_channels=32),
}


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions (with bias), each followed by SiLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.SiLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.SiLU(inplace=True),
    )


class UpConv(nn.Module):
    """Nearest x2 upsampling -> zero pad right/bottom by 1 -> 2x2 convolution -> SiLU.

    ``(N, in_channels, H, W) -> (N, out_channels, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.conv = nn.Conv2d(in_channels, out_channels, 2)
        self.activation = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        upsampled = F.interpolate(x, scale_factor=(2.0, 2.0), mode="nearest")
        return self.activation(self.conv(self.pad(upsampled)))


class FeatureFusionModule(nn.Module):
    """Fuse the U-Net and spatial-path features at 1/8 resolution.

    ``b = ReLU(BN(conv3x3(cat(unet, spatial))))``; ``w = sigmoid(conv1x1(ReLU(
    conv1x1(global_avg_pool(b)))))``; output ``b + b * w``. The pooling is a
    real global average (the authors' code pools 1x1, i.e. not at all).

    ``forward(unet, spatial)``: ``(N, Cu, H, W)`` and ``(N, Cs, H, W)`` ->
    ``(N, out_channels, H, W)``.
    """

    def __init__(self, unet_channels: int, spatial_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(unet_channels + spatial_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.attention = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 1), nn.Sigmoid(),
        )

    def forward(self, unet: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
        fused = self.fuse(torch.cat([unet, spatial], dim=1))
        return fused + fused * self.attention(self.pool(fused))


class BiLuNet(nn.Module):
    """BiLuNet segmentation network (see the module docstring).

    ``forward(x)``: ``x`` is ``(N, in_channels, H, W)``, ``H, W`` multiples
    of 32, values in [0, 1]; returns class probabilities (softmax) ``(N,
    num_classes, H, W)``. :meth:`logits` returns the scores before the
    softmax (for training with cross-entropy).

    Raises:
        InputError: wrong rank, channel count, or a size not divisible by 32.
    """

    input_names: tuple[str, ...] = ("image",)
    output_names: tuple[str, ...] = ("probabilities",)

    def __init__(self, config: BiLuNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.unet_channels
        self.down = nn.ModuleList(
            [double_conv(config.in_channels, widths[0])]
            + [double_conv(widths[level - 1], widths[level]) for level in range(1, len(widths))]
        )
        self.dropout = nn.Dropout(config.dropout)
        spatial = []
        channels = config.in_channels
        for width in config.spatial_channels:
            spatial += [nn.Conv2d(channels, width, 2, stride=2), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
        self.spatial_path = nn.Sequential(*spatial)
        self.fusion = FeatureFusionModule(widths[FUSION_LEVEL], config.spatial_channels[-1],
                                          config.fusion_channels)
        skip_widths = list(widths[:-1])
        skip_widths[FUSION_LEVEL] = config.fusion_channels
        self.up = nn.ModuleList([UpConv(widths[level + 1], widths[level]) for level in range(len(widths) - 1)])
        self.up_convs = nn.ModuleList(
            [double_conv(skip_widths[level] + widths[level], widths[level]) for level in range(len(widths) - 1)]
        )
        self.head = nn.Sequential(
            nn.Conv2d(widths[0], config.num_classes, 3, padding=1), nn.SiLU(inplace=True),
            nn.Conv2d(config.num_classes, config.num_classes, 1),
        )

    def example_inputs(self, batch_size: int = 1, size: tuple[int, int] = (512, 512)) -> tuple[torch.Tensor]:
        """Random inputs ``((batch_size, in_channels, *size),)`` in [0, 1] on the model's device."""
        device = next(self.parameters()).device
        return (torch.rand(batch_size, self.config.in_channels, *size, device=device),)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is ``(N, in_channels, H, W)`` with ``H, W % 32 == 0``."""
        require_shape(x, (None, self.config.in_channels, None, None), "input", "BiLuNet")
        require_divisible(x, 2, SIZE_MULTIPLE, "input", "BiLuNet")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scores before the softmax, ``(N, num_classes, H, W)``."""
        self.check_input(x)
        deepest = len(self.down) - 1
        skips = []
        features = x
        for level, block in enumerate(self.down):
            if level > 0:
                features = F.max_pool2d(features, 2)
            features = block(features)
            if level >= deepest - 1:
                features = self.dropout(features)
            skips.append(features)
        skips[FUSION_LEVEL] = self.fusion(skips[FUSION_LEVEL], self.spatial_path(x))
        for level in range(deepest - 1, -1, -1):
            features = self.up_convs[level](torch.cat([skips[level], self.up[level](features)], dim=1))
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_softmax(self.logits(x))


def bilunet_config(preset: str = "full", **overrides: Any) -> BiLuNetConfig:
    """The :class:`BiLuNetConfig` of ``preset`` with ``overrides`` applied.

    Raises:
        InputError: unknown preset or field.
    """
    return apply_overrides(select_preset(BILUNET_PRESETS, preset, "BiLuNet"), overrides)


def build_bilunet(preset: str = "full", **overrides: Any) -> BiLuNet:
    """BiLuNet (registry name ``bilunet``)."""
    return BiLuNet(bilunet_config(preset, **overrides))
