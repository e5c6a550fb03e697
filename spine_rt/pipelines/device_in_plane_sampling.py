"""Moving maps between the two stages' in-plane resolutions on torch tensors (CPU or CUDA).

The same conventions and arithmetic as :mod:`spine_rt.pipelines.in_plane_sampling`
(a grid of stride ``s`` has voxel ``i`` centred on full-resolution position
``s*i + (s - 1)/2``; linear interpolation clamped at the map's edge; float32
``low + (high - low) * weight``), with one difference in bookkeeping: the
interpolation indices and weights of a whole target axis are computed once
(:class:`AxisInterpolation`) and moved to the device before any work is
queued, so sampling a patch is slicing those tables and ``index_select``,
never a host-to-device copy in the middle of the streams' work.

Tensors here hold slices first: stage-one maps are ``(Z, C, X/f, Y/f)``
(the order stage one produces them in), volumes are ``(X, Y, Z)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.dependencies import require

torch = require("torch", "the device fast schedule")


@dataclass(frozen=True)
class AxisInterpolation:
    """Linear interpolation of one in-plane axis from a source grid onto a whole target grid.

    Attributes:
        low / high: ``(n,)`` int64 device tensors, source indices below/above each target voxel (clamped).
        weight: ``(n,)`` float32 device tensor, the share of ``high``.
        low_host / high_host: the same indices on the host (for bands).
        exact: every weight is 0 (the target samples source voxels directly).
    """

    low: Any
    high: Any
    weight: Any
    low_host: np.ndarray
    high_host: np.ndarray
    exact: bool

    @classmethod
    def build(cls, source_length: int, source_stride: int, target_length: int, target_stride: int,
              device: Any) -> AxisInterpolation:
        """Tables for target voxels ``0 .. target_length - 1`` of stride ``target_stride``
        from a source axis of ``source_length`` voxels of stride ``source_stride``."""
        centres = target_stride * np.arange(target_length) + (target_stride - 1) / 2.0
        position = (centres - (source_stride - 1) / 2.0) / source_stride
        lower = np.floor(position).astype(np.int64)
        weight = (position - lower).astype(np.float32)
        low = np.clip(lower, 0, source_length - 1)
        high = np.clip(lower + 1, 0, source_length - 1)
        return cls(torch.from_numpy(low).to(device), torch.from_numpy(high).to(device),
                   torch.from_numpy(weight).to(device), low, high, not weight.any())

    def band(self, first: int, count: int) -> tuple[int, int]:
        """``(start, stop)`` of the source voxels read by target voxels ``[first, first + count)``."""
        return int(self.low_host[first:first + count].min()), int(self.high_host[first:first + count].max()) + 1

    def apply(self, values: Any, axis: int, first: int, count: int, offset: int | None = None) -> Any:
        """Target voxels ``[first, first + count)`` of ``values`` interpolated along ``axis``.

        ``offset``: ``values`` along ``axis`` already starts at this source index
        (narrowed by the caller); ``None`` narrows to :meth:`band` here.
        """
        if offset is None:
            start, stop = self.band(first, count)
            values = values.narrow(axis, start, stop - start)
            offset = start
        low = values.index_select(axis, self.low[first:first + count] - offset)
        if self.exact:
            return low
        high = values.index_select(axis, self.high[first:first + count] - offset)
        shape = [1] * values.dim()
        shape[axis] = count
        return low + (high - low) * self.weight[first:first + count].reshape(shape)


def downsample_rows(volume: Any, factor: int, rows: slice) -> Any:
    """Mean of ``f x f`` in-plane blocks of full-resolution rows ``[f*rows.start, f*rows.stop)``
    of ``volume`` ``(X, Y, Z)``: ``(Z, n, Y/f)`` float32 (float64 sums, as on the host)."""
    size_y, size_z = volume.shape[1], volume.shape[2]
    part = volume[factor * rows.start: factor * rows.stop]
    if factor == 1:
        return part.to(torch.float32).permute(2, 0, 1)
    count = rows.stop - rows.start
    blocks = part.reshape(count, factor, size_y // factor, factor, size_z)
    return blocks.to(torch.float64).mean(dim=(1, 3)).to(torch.float32).permute(2, 0, 1)


def sample_patch(maps: Any, along_x: AxisInterpolation, along_y: AxisInterpolation, first: tuple[int, int],
                 count: tuple[int, int], slices: slice) -> Any:
    """``(len(slices), C, nx, ny)``: ``maps`` ``(Z, C, X', Y')`` sampled on target voxels
    ``[first, first + count)`` per in-plane axis (first the ``X`` axis, then ``Y``, as on the host)."""
    start_y, stop_y = along_y.band(first[1], count[1])
    values = maps[slices].narrow(3, start_y, stop_y - start_y)  # interpolate X only over the columns Y reads
    values = along_x.apply(values, 2, first[0], count[0])
    return along_y.apply(values, 3, first[1], count[1], offset=start_y)
