"""Cross tri-attention of SSHSNet stage two: stage-one (2D) and stage-two (3D) features inform each other.

Both inputs are ``(N, C, X, Y, Z)`` at 1/4 of the patch in-plane (48 x 48 x 12
for a 192 x 192 x 12 patch, ``C = 256`` in the full network):
``F2`` = the projected stage-one features, ``F3`` = the 3D decoder output.

1. :class:`InPlaneAttention` (2D -> 3D): ``Q``, ``K`` (1x1x1 convs to
   ``key_channels``) and ``V`` (1x1x1, ``C`` channels) all from ``F2``, the
   slices folded into the feature dimension (``Q`` is ``(key_channels * Z,
   X * Y)``); ``A = softmax(Q^T K)`` over the ``X * Y`` positions;
   ``F3' = g1 * (V A^T) + F3``.
2. :class:`SliceAttention` (3D -> 2D): ``X = F3`` as ``(Z, C * X * Y)``,
   ``E = X X^T`` (``Z x Z``), ``S = softmax(rowmax(E) - E)``;
   ``F2' = g2 * (S X) + F2``.
3. :class:`ChannelAttention` on ``cat(F2', F3')`` (``2C`` channels), the same
   rowmax trick over channels: ``out = g3 * (A X) + X``.

``g1``, ``g2``, ``g3`` are scalar parameters (named ``gamma`` in each
sub-module) initialised to 0, so the module starts as the identity/concat.
Every reshape uses the static grid the module was built for (the patch size);
only the batch dimension is free, which keeps the ONNX graph static.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class InPlaneAttention(nn.Module):
    """2D -> 3D position attention over the ``X * Y`` in-plane positions (gate ``g1``).

    ``forward(features_2d, features_3d)``: both ``(N, channels, X, Y, Z)``;
    returns ``F3'`` of the same shape.
    """

    def __init__(self, channels: int, key_channels: int, grid: Sequence[int]) -> None:
        super().__init__()
        self.channels = channels
        self.key_channels = key_channels
        self.grid = tuple(int(size) for size in grid)
        self.query = nn.Conv3d(channels, key_channels, 1)
        self.key = nn.Conv3d(channels, key_channels, 1)
        self.value = nn.Conv3d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def _fold_slices(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        """``(N, c, X, Y, Z) -> (N, c * Z, X * Y)`` (channel-major, then slice)."""
        size_x, size_y, size_z = self.grid
        return x.permute(0, 1, 4, 2, 3).reshape(-1, channels * size_z, size_x * size_y)

    def forward(self, features_2d: torch.Tensor, features_3d: torch.Tensor) -> torch.Tensor:
        size_x, size_y, size_z = self.grid
        query = self._fold_slices(self.query(features_2d), self.key_channels)
        key = self._fold_slices(self.key(features_2d), self.key_channels)
        value = self._fold_slices(self.value(features_2d), self.channels)
        attention = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=-1)  # (N, XY, XY)
        attended = torch.bmm(value, attention.transpose(1, 2))  # (N, C*Z, XY)
        attended = attended.reshape(-1, self.channels, size_z, size_x, size_y).permute(0, 1, 3, 4, 2)
        return self.gamma * attended + features_3d


class SliceAttention(nn.Module):
    """3D -> 2D attention between the ``Z`` slices of the 3D features (gate ``g2``).

    ``forward(features_2d, features_3d)``: both ``(N, channels, X, Y, Z)``;
    returns ``F2'`` of the same shape. ``E = X X^T`` is computed as
    ``X'^T X'`` on the free view ``X' = (C * X * Y, Z)`` of ``F3``, which is
    the same sum without a transpose copy.
    """

    def __init__(self, channels: int, grid: Sequence[int]) -> None:
        super().__init__()
        self.channels = channels
        self.grid = tuple(int(size) for size in grid)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, features_2d: torch.Tensor, features_3d: torch.Tensor) -> torch.Tensor:
        size_x, size_y, size_z = self.grid
        slices = features_3d.reshape(-1, self.channels * size_x * size_y, size_z)  # (N, F, Z)
        energy = torch.bmm(slices.transpose(1, 2), slices)  # (N, Z, Z)
        energy = torch.amax(energy, dim=-1, keepdim=True) - energy
        attention = torch.softmax(energy, dim=-1)
        attended = torch.bmm(slices, attention.transpose(1, 2))  # (N, F, Z) = (S X)^T
        attended = attended.reshape(-1, self.channels, size_x, size_y, size_z)
        return self.gamma * attended + features_2d


class ChannelAttention(nn.Module):
    """Channel attention with the rowmax trick (gate ``g3``); no projections.

    ``forward(x)``: ``(N, channels, X, Y, Z)`` -> same shape.
    """

    def __init__(self, channels: int, grid: Sequence[int]) -> None:
        super().__init__()
        self.channels = channels
        self.grid = tuple(int(size) for size in grid)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size_x, size_y, size_z = self.grid
        flat = x.reshape(-1, self.channels, size_x * size_y * size_z)
        energy = torch.bmm(flat, flat.transpose(1, 2))  # (N, C, C)
        energy = torch.amax(energy, dim=-1, keepdim=True) - energy
        attention = torch.softmax(energy, dim=-1)
        attended = torch.bmm(attention, flat).reshape(-1, self.channels, size_x, size_y, size_z)
        return self.gamma * attended + x


class CrossTriAttention(nn.Module):
    """The three attentions in sequence; see the module docstring.

    Args:
        channels: ``C`` of both inputs.
        key_channels: query/key channels of the in-plane attention (32 in the paper).
        grid: ``(X, Y, Z)`` of the inputs (patch size / (4, 4, 1)).

    ``forward(features_2d, features_3d)``: both ``(N, C, X, Y, Z)``; returns
    ``(N, 2C, X, Y, Z)`` = channel attention of ``cat(F2', F3')``.
    """

    def __init__(self, channels: int, key_channels: int, grid: Sequence[int]) -> None:
        super().__init__()
        self.in_plane = InPlaneAttention(channels, key_channels, grid)
        self.slice = SliceAttention(channels, grid)
        self.channel = ChannelAttention(2 * channels, grid)

    def forward(self, features_2d: torch.Tensor, features_3d: torch.Tensor) -> torch.Tensor:
        attended_3d = self.in_plane(features_2d, features_3d)
        attended_2d = self.slice(features_2d, features_3d)
        return self.channel(torch.cat([attended_2d, attended_3d], dim=1))
