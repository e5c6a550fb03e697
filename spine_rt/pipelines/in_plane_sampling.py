"""Moving maps between the in-plane resolutions of the two stages.

All grids share the full-resolution model grid's origin. A grid of *stride*
``s`` (full-resolution voxels per voxel) has voxel ``i`` covering full
voxels ``[s*i, s*i + s)``, so its centre lies at full-resolution position
``s*i + (s - 1)/2``:

* stage one's input and probabilities: stride ``f`` = 2 (0.69 mm),
* stage one's features: stride ``4f`` = 8 (1/8 of the full resolution),
* stage two's patch: stride 1, its feature input: stride 4.

:func:`downsample_in_plane` averages ``f x f`` blocks (full -> stride ``f``);
:func:`sample_in_plane` interpolates linearly from any stride to any other
on a box of the target grid, clamping at the map's edge. Sampling a box is
exactly the same as sampling the whole map and cropping the box, so stage
two's inputs are built patch by patch without ever holding a full-resolution
copy of the stage-one maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def downsample_in_plane(volume: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor x factor`` in-plane blocks: ``(X, Y, Z)`` -> ``(X/f, Y/f, Z)`` float32.

    ``X`` and ``Y`` must be multiples of ``factor`` (the pipeline pads to ensure it).
    """
    size_x, size_y, size_z = volume.shape
    if factor == 1:
        return volume.astype(np.float32, copy=False)
    blocks = volume.reshape(size_x // factor, factor, size_y // factor, factor, size_z)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def sample_in_plane(
    values: np.ndarray,
    source_stride: int,
    start: Sequence[int],
    size: Sequence[int],
    target_stride: int,
    slices: slice = slice(None),
) -> np.ndarray:
    """Linear interpolation of ``values`` onto a box of a grid of another stride.

    Args:
        values: ``(C, X, Y, Z)`` on a grid of stride ``source_stride``.
        source_stride: full-resolution voxels per voxel of ``values``.
        start: full-resolution ``(x, y)`` where the box begins.
        size: ``(nx, ny)`` voxels of the box on the target grid.
        target_stride: full-resolution voxels per voxel of the target grid.
        slices: which ``Z`` slices to take (no interpolation across slices).

    Returns:
        ``(C, nx, ny, len(slices))`` float32; positions beyond the map take
        the value of its edge.
    """
    values = values[..., slices]
    # crop every in-plane axis to the band the box reads first (a view), so that interpolating
    # the first axis does not run over the whole extent of the second one
    starts = [int(first) for first in start]
    for axis, count in enumerate(size):
        band = _band(values.shape[1 + axis], source_stride, starts[axis], int(count), target_stride)
        index = [slice(None)] * values.ndim
        index[1 + axis] = band
        values = values[tuple(index)]
        starts[axis] -= band.start * source_stride
    for axis, (first, count) in enumerate(zip(starts, size)):
        values = _interpolate_axis(values, 1 + axis, source_stride, first, int(count), target_stride)
    return values.astype(np.float32, copy=False)


def _band(length: int, source_stride: int, first: int, count: int, target_stride: int) -> slice:
    """The source voxels (clamped to ``[0, length)``) that a box of ``count`` target voxels interpolates from."""
    centres = first + target_stride * np.array([0, count - 1]) + (target_stride - 1) / 2.0
    lower = np.floor((centres - (source_stride - 1) / 2.0) / source_stride).astype(np.int64)
    return slice(int(np.clip(lower[0], 0, length - 1)), int(np.clip(lower[1] + 1, 0, length - 1)) + 1)


def _interpolate_axis(values: np.ndarray, axis: int, source_stride: int, first: int, count: int,
                      target_stride: int) -> np.ndarray:
    length = values.shape[axis]
    centres = first + target_stride * np.arange(count) + (target_stride - 1) / 2.0
    position = (centres - (source_stride - 1) / 2.0) / source_stride
    lower = np.floor(position).astype(np.int64)
    weight = (position - lower).astype(np.float32)
    low_index = np.clip(lower, 0, length - 1)
    high_index = np.clip(lower + 1, 0, length - 1)
    # read only the band of rows the box needs
    band = slice(int(low_index.min()), int(high_index.max()) + 1)
    index = [slice(None)] * values.ndim
    index[axis] = band
    window = values[tuple(index)]
    low = np.take(window, low_index - band.start, axis=axis)
    if not weight.any():
        return low
    high = np.take(window, high_index - band.start, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = count
    weight = weight.reshape(shape)
    return low + (high - low) * weight
