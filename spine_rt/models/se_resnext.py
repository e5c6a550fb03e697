"""SE-ResNeXt: the squeeze-excitation ResNeXt bottleneck and the 2D encoder of stage one.

The bottleneck is written once for 2D and 3D (``dims``); the 3D encoder of
stage two is in :mod:`spine_rt.models.se_resnext3d`.

Layout of SE-ResNeXt-50 (32x4d) (Hu et al., "Squeeze-and-Excitation
Networks"; Xie et al., "Aggregated Residual Transformations"): a 7x7 stride-2
stem (64 ch) + 3x3 stride-2 max-pool, then four stages of [3, 4, 6, 3]
bottlenecks with output channels 256/512/1024/2048 and grouped 3x3
convolutions of width 128/256/512/1024 in 32 groups (32 x 4d); the first
bottleneck of each stage projects the shortcut with a 1x1 convolution + BN.
Each bottleneck gates its residual branch with squeeze-excitation
(reduction 16, 1x1 convolutions with bias) before the addition.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spine_rt.errors import InputError
from spine_rt.models.layers import as_tuple, batch_norm, conv, global_average_pool, max_pool, same_padding

#: stem max-pool layouts of the 2D encoder (see :class:`SEResNeXtEncoder2d`)
STEM_POOLS: tuple[str, ...] = ("same", "ceil")


class SqueezeExcitation(nn.Module):
    """Channel gate: ``x * sigmoid(fc2(relu(fc1(global_avg_pool(x)))))``.

    ``fc1``/``fc2`` are 1x1 convolutions with bias (``C -> C / reduction -> C``).
    Input and output ``(N, C, *spatial)``.
    """

    def __init__(self, channels: int, reduction: int, dims: int) -> None:
        super().__init__()
        squeezed = max(channels // reduction, 1)
        self.pool = global_average_pool(dims)
        self.fc1 = conv(dims, channels, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = conv(dims, squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * gate


class SEResNeXtBottleneck(nn.Module):
    """1x1 reduce -> grouped k conv (stride, dilation) -> 1x1 expand -> SE gate, + shortcut, ReLU.

    Every convolution is bias-free and followed by batch norm. The shortcut is
    the identity unless the stride or the channel count changes, then a 1x1
    convolution (with the stride) + batch norm. Input ``(N, in_channels,
    *spatial)``, output ``(N, out_channels, *spatial / stride)``.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        width: int,
        out_channels: int,
        groups: int,
        se_reduction: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
    ) -> None:
        super().__init__()
        kernel = as_tuple(kernel_size, dims)
        strides = as_tuple(stride, dims)
        rates = as_tuple(dilation, dims)
        self.conv1 = conv(dims, in_channels, width, 1, bias=False)
        self.bn1 = batch_norm(dims, width)
        self.conv2 = conv(dims, width, width, kernel, stride=strides, padding=same_padding(kernel, rates),
                          dilation=rates, groups=groups, bias=False)
        self.bn2 = batch_norm(dims, width)
        self.conv3 = conv(dims, width, out_channels, 1, bias=False)
        self.bn3 = batch_norm(dims, out_channels)
        self.se = SqueezeExcitation(out_channels, se_reduction, dims)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module
        if in_channels != out_channels or any(step != 1 for step in strides):
            self.shortcut = nn.Sequential(
                conv(dims, in_channels, out_channels, 1, stride=strides, bias=False),
                batch_norm(dims, out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.relu(self.bn1(self.conv1(x)))
        residual = self.relu(self.bn2(self.conv2(residual)))
        residual = self.se(self.bn3(self.conv3(residual)))
        return self.relu(residual + self.shortcut(x))


def make_stage(
    dims: int,
    in_channels: int,
    width: int,
    out_channels: int,
    blocks: int,
    groups: int,
    se_reduction: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
) -> nn.Sequential:
    """``blocks`` bottlenecks; only the first one strides and changes the channel count."""
    layers = [SEResNeXtBottleneck(dims, in_channels, width, out_channels, groups, se_reduction,
                                  kernel_size, stride, dilation)]
    layers += [SEResNeXtBottleneck(dims, out_channels, width, out_channels, groups, se_reduction,
                                   kernel_size, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class SEResNeXtEncoder2d(nn.Module):
    """2D SE-ResNeXt encoder with output stride 16 (the last stage dilated), for DeepLabv3+.

    Stem: 7x7 stride-2 convolution + BN + ReLU, 3x3 stride-2 max-pool
    (``stem_pool``: ``"same"`` pads 1 on every side; ``"ceil"`` pads nothing
    and rounds the output size up, the layout of the ImageNet SE-ResNeXt in
    ``pretrainedmodels``/segmentation_models_pytorch that the SSHSNet authors
    trained: same output size for even inputs, windows shifted by one pixel). Stages
    1-4 use 3x3 grouped convolutions with strides 1, 2, 2 and, in place of the
    last stride 2, dilation 2 in every block of stage 4 (the classification
    head of the ImageNet network is not part of the encoder).

    ``forward(x)``: ``x`` is ``(N, in_channels, X, Y)`` with ``X, Y``
    multiples of 16; returns ``(low_level, high_level)``: stage 1 output
    ``(N, stage_channels[0], X/4, Y/4)`` and stage 4 output
    ``(N, stage_channels[3], X/16, Y/16)``.
    """

    output_stride = 16

    def __init__(
        self,
        in_channels: int,
        stem_channels: int,
        stage_channels: Sequence[int],
        bottleneck_widths: Sequence[int],
        blocks_per_stage: Sequence[int],
        groups: int,
        se_reduction: int,
        stem_pool: str = "same",
    ) -> None:
        super().__init__()
        if stem_pool not in STEM_POOLS:
            raise InputError(f"stem_pool must be one of {', '.join(STEM_POOLS)}, got {stem_pool!r}")
        pool = (max_pool(2, (3, 3), (2, 2), (1, 1)) if stem_pool == "same"
                else nn.MaxPool2d(3, stride=2, padding=0, ceil_mode=True))
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
            pool,
        )
        strides = (1, 2, 2, 1)
        dilations = (1, 1, 1, 2)
        stages = []
        channels = stem_channels
        for index in range(4):
            stages.append(make_stage(2, channels, bottleneck_widths[index], stage_channels[index],
                                     blocks_per_stage[index], groups, se_reduction, 3,
                                     strides[index], dilations[index]))
            channels = stage_channels[index]
        self.stage1, self.stage2, self.stage3, self.stage4 = stages

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low_level = self.stage1(self.stem(x))
        high_level = self.stage4(self.stage3(self.stage2(low_level)))
        return low_level, high_level
