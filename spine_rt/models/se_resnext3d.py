"""Anisotropic 3D SE-ResNeXt encoder of stage two (SSHSNet).

Axis order ``(N, C, X, Y, Z)``: ``X, Y`` in-plane, ``Z`` across the sagittal
slices. The slices are 4.4 mm apart against 0.34 mm in-plane, so the encoder
never strides through ``Z`` and mixes slices only in stage 4:

* stem: ``(7, 7, 1)`` convolution stride ``(2, 2, 1)`` + BN + ReLU, max-pool
  ``(3, 3, 1)`` stride ``(2, 2, 1)``;
* stages 1-3: bottlenecks with ``(3, 3, 1)`` grouped convolutions, stages 2
  and 3 stride ``(2, 2, 1)``;
* stage 4: ``(3, 3, 3)`` grouped convolutions, stride 1 (no dilation).

Output stride 16 in-plane, 1 through the slices. Bottleneck widths, groups
and the SE reduction are those of SE-ResNeXt-50 (32x4d) in the full preset.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spine_rt.models.se_resnext import make_stage


class SEResNeXtEncoder3d(nn.Module):
    """Anisotropic 3D SE-ResNeXt encoder (see the module docstring).

    ``forward(x)``: ``x`` is ``(N, in_channels, X, Y, Z)`` with ``X, Y``
    multiples of 16; returns ``(low_level, high_level)``: stage 1 output
    ``(N, stage_channels[0], X/4, Y/4, Z)`` and stage 4 output
    ``(N, stage_channels[3], X/16, Y/16, Z)``.
    """

    output_stride = (16, 16, 1)

    def __init__(
        self,
        in_channels: int,
        stem_channels: int,
        stage_channels: Sequence[int],
        bottleneck_widths: Sequence[int],
        blocks_per_stage: Sequence[int],
        groups: int,
        se_reduction: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, stem_channels, (7, 7, 1), stride=(2, 2, 1), padding=(3, 3, 0), bias=False),
            nn.BatchNorm3d(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((3, 3, 1), stride=(2, 2, 1), padding=(1, 1, 0)),
        )
        kernels = ((3, 3, 1), (3, 3, 1), (3, 3, 1), (3, 3, 3))
        strides = ((1, 1, 1), (2, 2, 1), (2, 2, 1), (1, 1, 1))
        stages = []
        channels = stem_channels
        for index in range(4):
            stages.append(make_stage(3, channels, bottleneck_widths[index], stage_channels[index],
                                     blocks_per_stage[index], groups, se_reduction,
                                     kernels[index], strides[index]))
            channels = stage_channels[index]
        self.stage1, self.stage2, self.stage3, self.stage4 = stages

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low_level = self.stage1(self.stem(x))
        high_level = self.stage4(self.stage3(self.stage2(low_level)))
        return low_level, high_level
