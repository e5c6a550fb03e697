"""PatchGrid: where the windows go (evenly spread, last flush, padding only for small images)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, axis_starts


def test_exact_tiling_without_overlap():
    assert axis_starts(96, 32, overlap=0.0) == (0, 32, 64)


def test_half_overlap_spreads_evenly_and_last_is_flush():
    starts = axis_starts(256, 96, overlap=0.5)
    assert starts[0] == 0 and starts[-1] == 256 - 96
    assert len(starts) == 5  # ceil(160 / 48) + 1
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spread, up to rounding
    assert gaps.max() <= 48


def test_image_equal_to_patch_has_one_window():
    assert axis_starts(12, 12, overlap=0.75) == (0,)


def test_image_smaller_than_patch_is_centred_and_padded():
    grid = PatchGrid.plan((5, 40), (9, 16))
    assert grid.axis_starts[0] == (-2,)
    assert grid.padding == ((2, 2), (0, 0))
    assert grid.window_slices(0) == (slice(-2, 7), slice(0, 16))


def test_explicit_stride_like_the_reference_schedule():
    grid = PatchGrid.plan((200, 300, 7), (96, 96, 1), stride=(81, 81, 1))
    assert grid.axis_starts[0] == (0, 81, 104)
    assert grid.axis_starts[1] == (0, 81, 162, 204)
    assert grid.axis_starts[2] == tuple(range(7))


def test_stride_entry_none_falls_back_to_overlap():
    grid = PatchGrid.plan((64, 64), (32, 32), overlap=0.5, stride=(None, 32))
    assert grid.axis_starts == ((0, 16, 32), (0, 32))


def test_per_axis_overlap():
    grid = PatchGrid.plan((64, 64), (32, 32), overlap=(0.0, 0.75))
    assert grid.axis_starts[0] == (0, 32)
    assert grid.axis_starts[1] == (0, 8, 16, 24, 32)


def test_alignment_puts_starts_on_multiples():
    starts = axis_starts(250, 96, overlap=0.5, alignment=4)
    assert all(s % 4 == 0 for s in starts[:-1]) and starts[-1] == 154
    assert all(b - a <= 96 for a, b in zip(starts, starts[1:]))


def test_windows_in_c_order_sorted_along_axis_0():
    grid = PatchGrid.plan((20, 30, 40), (8, 16, 16))
    starts = grid.window_starts()
    assert len(starts) == len(grid) == np.prod(grid.counts)
    assert np.all(np.diff(starts[:, 0]) >= 0)
    assert [tuple(s) for s in starts] == sorted(tuple(s) for s in starts)


def test_scaled_grid_for_a_quarter_resolution_output():
    grid = PatchGrid.plan((64, 128), (32, 32), alignment=4)
    quarter = grid.scaled((Fraction(1, 4), Fraction(1, 4)))
    assert quarter.image_shape == (16, 32) and quarter.patch_size == (8, 8)
    assert quarter.axis_starts[1] == tuple(s // 4 for s in grid.axis_starts[1])


def test_scaled_grid_refuses_window_off_the_output_voxels():
    grid = PatchGrid.plan((64, 92), (32, 32))  # starts 0, 15, 30, 45, 60 along axis 1
    with pytest.raises(InputError, match="alignment=4"):
        grid.scaled((Fraction(1, 4), Fraction(1, 4)))


def test_scaled_grid_refuses_image_not_a_multiple():
    grid = PatchGrid.plan((64, 90), (32, 32), alignment=4)
    with pytest.raises(InputError, match="whole number"):
        grid.scaled((Fraction(1, 4), Fraction(1, 4)))


@pytest.mark.parametrize("overlap", [1.0, -0.1, 1.5, "half", True])
def test_bad_overlap(overlap):
    with pytest.raises(InputError, match=r"overlap must be a number in \[0, 1\)"):
        PatchGrid.plan((64, 64), (32, 32), overlap=overlap)


@pytest.mark.parametrize("stride", [0, 33, 2.5])
def test_bad_stride(stride):
    with pytest.raises(InputError, match="stride must be an integer between 1 and the patch size"):
        PatchGrid.plan((64, 64), (32, 32), stride=stride)


@pytest.mark.parametrize("patch", [(0, 32), (32, -1), (32,), (32, 32, 32), "abc"])
def test_bad_patch(patch):
    with pytest.raises(InputError, match="patch_size"):
        PatchGrid.plan((64, 64), patch)


def test_bad_alignment():
    with pytest.raises(InputError, match="alignment"):
        PatchGrid.plan((64, 64), (32, 32), alignment=64)


# --- properties ---------------------------------------------------------------

axis_cases = st.tuples(
    st.integers(1, 80),  # size
    st.integers(1, 40),  # patch
    st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.75, 0.9]),
    st.one_of(st.none(), st.integers(1, 40)),  # stride (clipped to the patch below)
    st.integers(1, 8),  # alignment (clipped to the patch below)
)


@settings(max_examples=150, deadline=None)
@given(axis_cases)
def test_axis_starts_properties(case):
    size, patch, overlap, stride, alignment = case
    stride = None if stride is None else min(stride, patch)
    alignment = min(alignment, patch)
    starts = axis_starts(size, patch, overlap=overlap, stride=stride, alignment=alignment)
    assert list(starts) == sorted(set(starts))
    if size <= patch:
        assert len(starts) == 1 and starts[0] <= 0 and starts[0] + patch >= size
        return
    assert starts[0] == 0, "first window at the first voxel"
    assert starts[-1] == size - patch, "last window flush with the edge"
    assert all(0 <= s <= size - patch for s in starts), "no window beyond the image"
    covered = np.zeros(size, bool)
    for s in starts:
        covered[s : s + patch] = True
    assert covered.all(), "every voxel in at least one window"
    if stride is None and alignment == 1:
        assert all(b - a <= max(1, int(np.ceil(patch * (1 - overlap)))) for a, b in zip(starts, starts[1:]))
    if stride is None:
        assert all(s % alignment == 0 for s in starts[:-1])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 24), st.integers(1, 12)), min_size=2, max_size=3),
    st.sampled_from([0.0, 0.5, 0.75]),
)
def test_grid_covers_every_voxel(axes, overlap):
    shape = tuple(a for a, _ in axes)
    patch = tuple(p for _, p in axes)
    grid = PatchGrid.plan(shape, patch, overlap=overlap)
    count = np.zeros(shape, np.int32)
    for index in range(len(grid)):
        window = tuple(slice(max(s.start, 0), min(s.stop, n)) for s, n in zip(grid.window_slices(index), shape))
        count[window] += 1
    assert count.min() >= 1
    starts, lo, hi = grid.window_boxes()
    assert np.all(lo >= 0) and np.all(hi <= np.asarray(shape)) and np.all(hi > lo)


@pytest.mark.parametrize("image, patch", [((37, 29), (16, 12)), ((40, 33, 9), (16, 12, 12))])
def test_windows_touching_equals_a_box_by_box_search(image, patch):
    """The splitter's ROI filter (summed-area table) = asking every window's box, 2D and 3D, whole or a band."""
    from spine_rt.patching import windows_touching

    rng = np.random.default_rng(len(image))
    grid = PatchGrid.plan(image, patch, overlap=0.5)
    _, lo, hi = grid.window_boxes()
    for density in (0.0, 0.002, 0.05):
        roi = rng.random(image) < density
        expected = [k for k in range(len(grid)) if roi[tuple(slice(a, b) for a, b in zip(lo[k], hi[k]))].any()]
        assert windows_touching(grid, roi).tolist() == expected
        band = slice(10, 25)  # only rows 10..24 known: windows judged on those rows
        banded = [k for k in range(len(grid))
                  if roi[(slice(max(lo[k][0], band.start), min(hi[k][0], band.stop)),
                          *(slice(a, b) for a, b in zip(lo[k][1:], hi[k][1:])))].any()]
        assert windows_touching(grid, roi[band], first_row=band.start).tolist() == banded
    assert windows_touching(grid, None).tolist() == list(range(len(grid)))
