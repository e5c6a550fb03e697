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

:func:`downsample_in_plane` and :func:`sample_in_plane` take numpy arrays or
torch tensors (on any device; the result stays there). On a device, the
doubling path (stage one's maps for stage two, ``f = 2``) uses slicing and
arithmetic only; the general path copies its small index tables to the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spine_rt.patching.array_backend import backend_for


def downsample_in_plane(volume: Any, factor: int) -> Any:
    """Mean of ``factor x factor`` in-plane blocks: ``(X, Y, Z)`` -> ``(X/f, Y/f, Z)`` float32 (float64 sums).

    ``X`` and ``Y`` must be multiples of ``factor`` (the pipeline pads to ensure it).
    """
    backend = backend_for(volume)
    size_x, size_y, size_z = (int(n) for n in volume.shape)
    if factor == 1:
        return backend.float32(volume)
    blocks = volume.reshape(size_x // factor, factor, size_y // factor, factor, size_z)
    return backend.block_mean(blocks, (1, 3))


def sample_in_plane(
    values: Any,
    source_stride: int,
    start: Sequence[int],
    size: Sequence[int],
    target_stride: int,
    slices: slice = slice(None),
    out: Any = None,
) -> Any:
    """Linear interpolation of ``values`` onto a box of a grid of another stride.

    Args:
        values: ``(C, X, Y, Z)`` on a grid of stride ``source_stride``.
        source_stride: full-resolution voxels per voxel of ``values``.
        start: full-resolution ``(x, y)`` where the box begins.
        size: ``(nx, ny)`` voxels of the box on the target grid.
        target_stride: full-resolution voxels per voxel of the target grid.
        slices: which ``Z`` slices to take (no interpolation across slices).
        out: optional float32 array ``(C, nx, ny, len(slices))`` to write into
            (for example a slot of a network input batch), saving a copy.

    Returns:
        ``(C, nx, ny, len(slices))`` float32 (``out`` when given); positions
        beyond the map take the value of its edge.

    Doubling the resolution (``source_stride == 2 * target_stride`` with the
    box on the target grid, the stage-one probabilities and features for
    stage two) takes a fast path: every target voxel lies a quarter of a
    source voxel from its nearest source voxel, so each output is ``0.75 *
    nearest + 0.25 * next`` without index gathers. It equals the general path
    to float32 rounding.
    """
    values = values[..., slices]
    if _doubles(values.shape[1:3], source_stride, start, size, target_stride):
        return _sample_doubling(values, start, size, target_stride, out)
    backend = backend_for(values)
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
        values = _interpolate_axis(backend, values, 1 + axis, source_stride, first, int(count), target_stride)
    if out is not None:
        out[...] = values
        return out
    return backend.float32(values)


def _doubles(lengths: Sequence[int], source_stride: int, start: Sequence[int], size: Sequence[int],
             target_stride: int) -> bool:
    """Whether the fast doubling path applies: stride ratio 2, the box on the target grid and reading
    at most one voxel beyond the map on each side (stage-two patches always do)."""
    if source_stride != 2 * target_stride or any(int(first) % target_stride for first in start):
        return False
    for length, first, count in zip(lengths, start, size):
        low, high = _doubling_band(int(first) // target_stride, int(count))
        if low < -1 or high > length or count < 1:
            return False
    return True


def _doubling_band(first: int, count: int) -> tuple[int, int]:
    """The source voxels (inclusive, unclamped) that target voxels ``first .. first + count - 1`` read."""
    return first // 2 - 1, (first + count - 1) // 2 + 1


def _sample_doubling(values: Any, start: Sequence[int], size: Sequence[int], target_stride: int,
                     out: Any) -> Any:
    """:func:`sample_in_plane` for ``source_stride == 2 * target_stride`` (see its docstring).

    Target voxel ``j`` (counted on the target grid from the map's origin) lies
    at source position ``j / 2 - 1 / 4``: an even ``j = 2m`` at ``m - 1/4``
    (``0.25 v[m-1] + 0.75 v[m]``), an odd ``j = 2m + 1`` at ``m + 1/4``
    (``0.75 v[m] + 0.25 v[m+1]``), source indices clamped to the map.
    """
    backend = backend_for(values)
    firsts = [int(first) // target_stride for first in start]
    counts = [int(count) for count in size]
    result = out if out is not None else backend.empty((values.shape[0], *counts, values.shape[3]),
                                                       backend.dtype("float32"))
    band = values
    lows = []
    for axis, (first, count) in enumerate(zip(firsts, counts)):
        low, high = _doubling_band(first, count)
        begin, end = max(low, 0), min(high, values.shape[1 + axis] - 1) + 1
        index = [slice(None)] * band.ndim
        index[1 + axis] = slice(begin, end)
        band = band[tuple(index)]
        if begin - low or high + 1 - end:  # one voxel beyond the map: repeat its edge
            index[1 + axis] = slice(0, 1)
            before = [band[tuple(index)]] * (begin - low)
            index[1 + axis] = slice(band.shape[1 + axis] - 1, None)
            band = backend.concat([*before, band, *[band[tuple(index)]] * (high + 1 - end)], 1 + axis)
        lows.append(low)
    # columns first: the second pass, which writes the whole result, then writes whole rows ((Y, Z) blocks)
    # rather than every other (Z,) run of them (about a third faster on the host; issue 12)
    columns = _double_axis(backend, backend.float32(band), 2, firsts[1], counts[1], lows[1], None)
    return _double_axis(backend, columns, 1, firsts[0], counts[0], lows[0], result)


def _double_axis(backend: Any, values: Any, axis: int, first: int, count: int, low: int, out: Any) -> Any:
    """Target voxels ``first .. first + count - 1`` along ``axis`` from ``values``, whose index ``p`` along
    ``axis`` holds source voxel ``low + p`` (already clamped / edge-padded: no bounds checks here)."""
    shape = list(values.shape)
    shape[axis] = count
    result = out if out is not None else backend.empty(shape, backend.dtype("float32"))

    def along(array: Any, part: slice) -> Any:
        index = [slice(None)] * array.ndim
        index[axis] = part
        return array[tuple(index)]

    on_host = isinstance(values, np.ndarray)
    if on_host:  # each source voxel scaled once (x 0.25 is exact): one pass per output voxel, no temporaries
        three, quarter = values * np.float32(0.75), values * np.float32(0.25)
    for parity in (0, 1):
        begin = first + (parity - first) % 2  # the first target voxel of this parity
        n = len(range(begin, first + count, 2))
        if n == 0:
            continue
        nearest = begin // 2 - low
        neighbour = nearest - 1 if parity == 0 else nearest + 1
        target = along(result, slice(begin - first, count, 2))
        if on_host:
            np.add(along(three, slice(nearest, nearest + n)), along(quarter, slice(neighbour, neighbour + n)),
                   out=target)
            continue
        backend.multiply(along(values, slice(nearest, nearest + n)), 0.75, target)
        target += 0.25 * along(values, slice(neighbour, neighbour + n))
    return result


def _band(length: int, source_stride: int, first: int, count: int, target_stride: int) -> slice:
    """The source voxels (clamped to ``[0, length)``) that a box of ``count`` target voxels interpolates from."""
    centres = first + target_stride * np.array([0, count - 1]) + (target_stride - 1) / 2.0
    lower = np.floor((centres - (source_stride - 1) / 2.0) / source_stride).astype(np.int64)
    return slice(int(np.clip(lower[0], 0, length - 1)), int(np.clip(lower[1] + 1, 0, length - 1)) + 1)


def _interpolate_axis(backend: Any, values: Any, axis: int, source_stride: int, first: int, count: int,
                      target_stride: int) -> Any:
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
    low = backend.take(window, low_index - band.start, axis)
    if not weight.any():
        return low
    high = backend.take(window, high_index - band.start, axis)
    shape = [1] * values.ndim
    shape[axis] = count
    return low + (high - low) * backend.from_host(weight.reshape(shape))


def repeat_in_plane(
    values: np.ndarray,
    source_stride: int,
    start: Sequence[int],
    size: Sequence[int],
    slices: slice = slice(None),
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Nearest upsampling to full resolution on a box: full voxel ``j`` takes source voxel ``j // s``.

    What ``F.interpolate(mode="nearest", scale_factor=s)`` gives (the SSHSNet
    authors' upsampling of the stage-one softmax), cropped to the box.

    Args:
        values: ``(C, X, Y, Z)`` on a grid of stride ``source_stride`` (``s``).
        start: full-resolution ``(x, y)`` where the box begins.
        size: ``(nx, ny)`` full-resolution voxels of the box.
        slices / out: as in :func:`sample_in_plane`.

    Returns:
        ``(C, nx, ny, len(slices))`` float32; positions beyond the map take its edge.
    """
    values = values[..., slices]
    rows, columns = (np.minimum((int(first) + np.arange(int(count))) // source_stride, length - 1)
                     for first, count, length in zip(start, size, values.shape[1:3]))
    result = values[:, rows][:, :, columns]
    if out is not None:
        out[...] = result
        return out
    return result.astype(np.float32, copy=False)


def sample_align_corners(
    values: np.ndarray,
    scale: int,
    first: Sequence[int],
    size: Sequence[int],
    slices: slice = slice(None),
) -> np.ndarray:
    """A box of ``F.interpolate(values, scale_factor=scale, mode="bilinear", align_corners=True)``.

    The whole map ``(C, X, Y, Z)`` upsampled in-plane to ``(C, scale X,
    scale Y, Z)`` puts output voxel ``o`` at source position ``o (n - 1) /
    (scale n - 1)``; this computes only the voxels ``first .. first + size``
    of that output (the SSHSNet authors' x2 upsampling of the stage-one
    decoder maps, cropped to a patch). Float32 result ``(C, nx, ny, len(slices))``.
    """
    values = values[..., slices].astype(np.float32, copy=False)
    for axis, (begin, count) in enumerate(zip(first, size)):
        length = values.shape[1 + axis]
        step = (length - 1) / (scale * length - 1) if scale * length > 1 else 0.0
        position = (int(begin) + np.arange(int(count))) * step
        lower = np.clip(np.floor(position).astype(np.int64), 0, length - 1)
        upper = np.minimum(lower + 1, length - 1)
        shape = [1] * values.ndim
        shape[1 + axis] = int(count)
        weight = (position - lower).astype(np.float32).reshape(shape)
        low = np.take(values, lower, axis=1 + axis)
        values = low + (np.take(values, upper, axis=1 + axis) - low) * weight
    return values
