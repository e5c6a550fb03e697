"""Stitcher alone: exact blending, slab mode == full mode, bounded accumulators, fill."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine_rt.patching import PatchGrid, Stitcher, importance_profiles
from spine_rt.patching.array_backend import NumpyBackend


def stitch(volume, grid, run=None, mode="gaussian", slab=False, consumer=None, fill=0.0, dtype="float32"):
    """Feed windows of ``volume (N, C, *spatial)`` (each window's prediction = the volume there) to a Stitcher."""
    backend = NumpyBackend()
    run = np.arange(len(grid)) if run is None else np.asarray(run)
    images, channels = volume.shape[:2]
    stitcher = Stitcher(
        backend,
        grid,
        run,
        importance_profiles(grid.patch_size, mode),
        images,
        channels,
        np.dtype(dtype),
        np.full(channels, fill, np.float32),
        slab=slab,
        consumer=consumer,
    )
    padded = np.pad(volume, [(0, 0), (0, 0), *grid.padding], constant_values=np.nan)
    starts = grid.window_starts() + np.asarray([b for b, _ in grid.padding])
    for k, index in enumerate(run):
        window = tuple(slice(s, s + p) for s, p in zip(starts[index], grid.patch_size))
        for image in range(images):
            stitcher.add(k, image, padded[(image, slice(None), *window)])
    return stitcher, stitcher.finish()


def volume_of(shape, seed=0):
    return np.random.default_rng(seed).uniform(-3, 3, size=shape).astype(np.float32)


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
@pytest.mark.parametrize("slab", [False, True])
def test_windows_of_the_volume_stitch_back_to_the_volume(mode, slab):
    volume = volume_of((2, 3, 13, 17, 11))
    grid = PatchGrid.plan(volume.shape[2:], (5, 8, 6), overlap=0.5)
    _, result = stitch(volume, grid, mode=mode, slab=slab)
    np.testing.assert_allclose(result, volume, rtol=2e-6, atol=2e-6)


def test_padded_windows_are_cropped():
    volume = volume_of((1, 2, 3, 20))
    grid = PatchGrid.plan(volume.shape[2:], (8, 8))
    assert grid.padding[0] != (0, 0)
    _, result = stitch(volume, grid)  # padded voxels are NaN: any leak would show
    np.testing.assert_allclose(result, volume, rtol=2e-6, atol=2e-6)


def test_slab_accumulator_holds_one_window_extent_of_rows():
    volume = volume_of((1, 4, 40, 12, 12))
    grid = PatchGrid.plan(volume.shape[2:], (6, 12, 12), overlap=0.5)
    full, full_result = stitch(volume, grid)
    rows = []
    slab, _ = stitch(volume, grid, slab=True, consumer=lambda r, block: rows.append((r, block.copy())))
    assert full.accumulator_shape == (1, 4, 40, 12, 12)
    assert slab.accumulator_shape == (1, 4, 6, 12, 12)  # window extent along axis 0 x the rest
    assert slab.nbytes == 4 * 6 * 12 * 12 * 4
    # rows come in order, each once, and equal the full-mode result
    assert [r.start for r, _ in rows] == sorted(r.start for r, _ in rows)
    assert rows[0][0].start == 0 and rows[-1][0].stop == 40
    assert all(a.stop == b.start for (a, _), (b, _) in zip(rows, rows[1:]))
    np.testing.assert_array_equal(np.concatenate([b for _, b in rows], axis=2), full_result)


def test_skipped_windows_leave_fill_and_weights_stay_bounded():
    volume = volume_of((1, 2, 30, 10))
    grid = PatchGrid.plan(volume.shape[2:], (6, 10), overlap=0.5)
    run = [0, 1, 7, 8]  # rows 0..8 and 21..29 covered, the middle not
    full, full_result = stitch(volume, grid, run=run, fill=-5.0)
    slab, slab_result = stitch(volume, grid, run=run, fill=-5.0, slab=True)
    covered = np.zeros(30, bool)
    _, lo, hi = grid.window_boxes()
    for index in run:
        covered[lo[index, 0] : hi[index, 0]] = True
    np.testing.assert_allclose(full_result[:, :, covered], volume[:, :, covered], rtol=2e-6, atol=2e-6)
    assert np.all(full_result[:, :, ~covered] == -5.0)
    np.testing.assert_array_equal(slab_result, full_result)
    assert slab.accumulator_shape[2] == 6
    assert slab.nbytes == 2 * 6 * 10 * 4 + 12 * 10 * 4  # values + a rolling weight sum of 2 window extents


def test_float16_accumulation():
    volume = volume_of((1, 2, 16, 16))
    grid = PatchGrid.plan(volume.shape[2:], (8, 8), overlap=0.75)
    _, result = stitch(volume, grid, dtype="float16")
    assert result.dtype == np.float16
    np.testing.assert_allclose(result, volume, rtol=2e-3, atol=2e-3)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 14), st.integers(1, 7)), min_size=2, max_size=3),
    st.sampled_from([0.0, 0.5, 0.75]),
    st.integers(0, 2**16),
    st.booleans(),
)
def test_slab_equals_full(axes, overlap, seed, skip_some):
    shape = tuple(a for a, _ in axes)
    patch = tuple(p for _, p in axes)
    volume = volume_of((2, 2, *shape), seed)
    grid = PatchGrid.plan(shape, patch, overlap=overlap)
    rng = np.random.default_rng(seed)
    run = np.flatnonzero(rng.random(len(grid)) < 0.6) if skip_some else None
    _, full_result = stitch(volume, grid, run=run, fill=7.0)
    slab, slab_result = stitch(volume, grid, run=run, fill=7.0, slab=True)
    np.testing.assert_array_equal(slab_result, full_result)
    assert slab.accumulator_shape[2] == min(patch[0], shape[0])
    if run is None:
        np.testing.assert_allclose(full_result, volume, rtol=2e-6, atol=2e-6)



def test_bounded_row_merger_grows_to_the_rows_a_batch_reaches_and_equals_the_full_one():
    """RowMerger (bounded): the buffer grows to exactly the rows a batch writes (no doubling); same rows as full."""
    from spine_rt.patching import RowMerger

    backend = NumpyBackend()
    rng = np.random.default_rng(3)
    importance = rng.random((4, 3)).astype(np.float32) + 0.1
    shape = (20, 5)
    batches = [[(0, 0), (2, 1)], [(5, 0), (8, 2)], [(15, 1), (16, 0)]]
    windows = [[rng.random((2, 4, 3)).astype(np.float32) for _ in batch] for batch in batches]
    results = {}
    for bounded in (True, False):
        merger = RowMerger(backend, shape, 2, importance, bounded)
        blocks, rows_held = {}, 0

        def keep(rows, values, covered, blocks=blocks):
            blocks[rows.start] = (values.copy(), covered.copy())

        for index, batch in enumerate(batches):
            for start, prediction in zip(batch, windows[index]):
                merger.aggregate(start, prediction)
                rows_held = max(rows_held, merger.nbytes // (4 * 3 * shape[1]))
            merger.finalize(batches[index + 1][0][0] if index + 1 < len(batches) else shape[0], 2, keep)
        results[bounded] = (blocks, rows_held)
    (bounded_blocks, bounded_rows), (full_blocks, full_rows) = results[True], results[False]
    assert full_rows == shape[0]
    assert bounded_rows == 7  # rows 5..12 of the second batch (doubling would have made 12)
    assert bounded_blocks.keys() == full_blocks.keys()
    for first, (values, covered) in bounded_blocks.items():
        np.testing.assert_array_equal(values, full_blocks[first][0])
        np.testing.assert_array_equal(covered, full_blocks[first][1])


@pytest.mark.parametrize("shape", [(20, 16, 56, 12), (3, 5, 7), (1, 4, 4)])
def test_numpy_backend_argmax_over_channels_is_numpy_argmax_with_ties_and_nan(shape):
    """The channel loop (max, then the first channel equal to it) gives numpy's argmax: first on ties, and the
    first NaN where a voxel has one."""
    rng = np.random.default_rng(len(shape))
    values = rng.random(shape, dtype=np.float32)
    tied = np.round(values * 3) / 3  # many exact ties
    with_nan = values.copy()
    with_nan[(shape[0] - 1, *(0,) * (len(shape) - 1))] = np.nan
    with_nan[(0, *(1,) * (len(shape) - 1))] = np.nan
    for array in (values, tied, with_nan):
        np.testing.assert_array_equal(NumpyBackend().argmax(array, 0, "uint8"), array.argmax(0).astype(np.uint8))
    np.testing.assert_array_equal(NumpyBackend().argmax(values, 1, "int32"), values.argmax(1))
