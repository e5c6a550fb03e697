"""DeepLabv3+ decoder (Chen et al. 2018), written once for 2D and 3D.

``high_level`` (encoder output at the output stride) passes atrous spatial
pyramid pooling with separable convolutions; the result is upsampled to the
stride of ``low_level`` (encoder stage 1), concatenated with its 1x1
projection (48 channels in the paper) and fused by a separable convolution.

Every convolution is bias-free and followed by batch norm + ReLU. The
depthwise part of a separable convolution has no norm of its own (depthwise
then pointwise, then one batch norm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from spine_rt.models.layers import as_tuple, batch_norm, conv, conv_bn_relu, global_average_pool, same_padding
from spine_rt.models.linear_upsampling import upsample_linear


class SeparableConv(nn.Sequential):
    """Depthwise ``kernel_size`` convolution (dilated) then pointwise 1x1, both bias-free.

    Input ``(N, in_channels, *spatial)``, output ``(N, out_channels, *spatial)``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1) -> None:
        kernel = as_tuple(kernel_size, dims)
        rates = as_tuple(dilation, dims)
        super().__init__(
            conv(dims, in_channels, in_channels, kernel, padding=same_padding(kernel, rates),
                 dilation=rates, groups=in_channels, bias=False),
            conv(dims, in_channels, out_channels, 1, bias=False),
        )


def separable_conv_bn_relu(dims: int, in_channels: int, out_channels: int,
                           kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1) -> nn.Sequential:
    """:class:`SeparableConv` -> batch norm -> ReLU."""
    return nn.Sequential(
        SeparableConv(dims, in_channels, out_channels, kernel_size, dilation),
        batch_norm(dims, out_channels),
        nn.ReLU(inplace=True),
    )


class ImagePooling(nn.Module):
    """ASPP image-level branch: global average pool -> 1x1 conv + BN + ReLU -> broadcast back.

    The broadcast (``expand``) replaces the usual upsampling of a 1x1 map;
    the values are identical and the graph needs no resize. As in every
    DeepLabv3+, the batch norm sees one value per channel and sample, so
    training needs batches of at least 2.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = global_average_pool(dims)
        self.project = conv_bn_relu(dims, in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.project(self.pool(x))
        return pooled.expand(-1, -1, *x.shape[2:])


class AtrousSpatialPyramidPooling(nn.Module):
    """ASPP: 1x1, three separable atrous convolutions, image pooling; concat -> 1x1 -> dropout.

    Input ``(N, in_channels, *spatial)``, output ``(N, out_channels, *spatial)``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, atrous_rates: Sequence[int],
                 kernel_size: int | Sequence[int] = 3, dropout: float = 0.5) -> None:
        super().__init__()
        branches: list[nn.Module] = [conv_bn_relu(dims, in_channels, out_channels, 1)]
        branches += [separable_conv_bn_relu(dims, in_channels, out_channels, kernel_size, rate)
                     for rate in atrous_rates]
        branches.append(ImagePooling(dims, in_channels, out_channels))
        self.branches = nn.ModuleList(branches)
        self.project = conv_bn_relu(dims, len(branches) * out_channels, out_channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.dropout(self.project(pyramid))


class DeepLabV3PlusDecoder(nn.Module):
    """DeepLabv3+ decoder for 2D (``dims=2``) or 3D (``dims=3``) encoders.

    Args:
        dims: 2 or 3.
        high_level_channels: channels of the encoder output at the output stride.
        low_level_channels: channels of the stage-1 skip.
        channels: ASPP and output channels (256 in the paper).
        skip_channels: projection of the skip (48 in the paper).
        atrous_rates: the three ASPP dilations (12, 24, 36).
        aspp_kernel_size: kernel of the atrous and post-ASPP separable convs (3 or (3, 3, 3)).
        fuse_kernel_size: kernel of the separable conv after the concatenation
            (3 in 2D, (3, 3, 1) in stage two).
        upsample_scale: high level -> low level scale ((4, 4) or (4, 4, 1)).
        dropout: dropout after the ASPP projection.

    ``forward(low_level, high_level)``: ``low_level`` ``(N, low_level_channels,
    *S)``, ``high_level`` ``(N, high_level_channels, *S / upsample_scale)``;
    returns ``(N, channels, *S)``. Upsampling is (bi/tri)linear with
    ``align_corners=True`` and a static scale factor.
    """

    def __init__(
        self,
        dims: int,
        high_level_channels: int,
        low_level_channels: int,
        channels: int,
        skip_channels: int,
        atrous_rates: Sequence[int],
        aspp_kernel_size: int | Sequence[int],
        fuse_kernel_size: int | Sequence[int],
        upsample_scale: Sequence[int],
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.aspp = nn.Sequential(
            AtrousSpatialPyramidPooling(dims, high_level_channels, channels, atrous_rates,
                                        aspp_kernel_size, dropout),
            separable_conv_bn_relu(dims, channels, channels, aspp_kernel_size),
        )
        self.upsample_scale = tuple(float(scale) for scale in upsample_scale)
        self.skip = conv_bn_relu(dims, low_level_channels, skip_channels, 1)
        self.fuse = separable_conv_bn_relu(dims, channels + skip_channels, channels, fuse_kernel_size)

    def forward(self, low_level: torch.Tensor, high_level: torch.Tensor) -> torch.Tensor:
        context = upsample_linear(self.aspp(high_level), self.upsample_scale)
        return self.fuse(torch.cat([context, self.skip(low_level)], dim=1))
