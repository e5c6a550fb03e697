"""Importance weights and their normalisation over overlapping windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine_rt.errors import InputError
from spine_rt.patching import ImportanceMode, PatchGrid, importance_map, importance_profiles
from spine_rt.patching.array_backend import NumpyBackend
from spine_rt.patching.importance import GAUSSIAN_FLOOR
from spine_rt.patching.window_weights import AccumulatedWindowWeights, SeparableWindowWeights, normalised_axis_profiles


def test_gaussian_profile_peaks_in_the_centre_and_is_symmetric():
    (profile,) = importance_profiles((33,), "gaussian")
    assert profile.dtype == np.float32
    assert profile[16] == 1.0 and profile.argmax() == 16
    np.testing.assert_array_equal(profile, profile[::-1])
    # sigma = 33 / 8: the border voxel sits 16 / (33 / 8) sigma from the centre
    np.testing.assert_allclose(profile[0], np.exp(-0.5 * (16 / (33 / 8)) ** 2), rtol=1e-5)


def test_gaussian_border_weight_is_positive_and_floored():
    (profile,) = importance_profiles((64,), "gaussian", sigma_scale=0.01)
    assert profile.min() == np.float32(GAUSSIAN_FLOOR)
    weights = importance_map((16, 16, 16))
    assert weights.min() > 0 and weights.max() == pytest.approx(1.0, abs=1e-6)


def test_map_is_outer_product_of_profiles():
    profiles = importance_profiles((5, 6, 7), ImportanceMode.GAUSSIAN)
    expected = profiles[0][:, None, None] * profiles[1][None, :, None] * profiles[2][None, None, :]
    np.testing.assert_allclose(importance_map((5, 6, 7)), expected, rtol=1e-6)


def test_constant_mode_is_all_ones():
    np.testing.assert_array_equal(importance_map((3, 4), "constant"), np.ones((3, 4), np.float32))


def test_unknown_mode_lists_the_valid_ones():
    with pytest.raises(InputError, match="valid modes: 'gaussian', 'constant'"):
        importance_profiles((4, 4), "triangle")


def test_bad_sigma_scale():
    with pytest.raises(InputError, match="sigma_scale"):
        importance_profiles((4, 4), "gaussian", sigma_scale=0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 30),
    st.sampled_from([0.0, 0.5, 0.75]),
    st.sampled_from(["gaussian", "constant"]),
)
def test_normalised_axis_profiles_sum_to_one(size, patch, overlap, mode):
    grid = PatchGrid.plan((size,), (patch,), overlap=overlap)
    (profile,) = importance_profiles((patch,), mode)
    total = np.zeros(size)
    for s, weights in zip(grid.axis_starts[0], normalised_axis_profiles(size, patch, grid.axis_starts[0], profile)):
        lo, hi = max(s, 0), min(s + patch, size)
        assert weights.shape == (hi - lo,)
        total[lo:hi] += weights
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 16), st.integers(1, 8)), min_size=2, max_size=3),
    st.sampled_from([0.0, 0.5, 0.75]),
    st.sampled_from(["gaussian", "constant"]),
)
def test_window_weights_sum_to_one_at_every_voxel(axes, overlap, mode):
    shape = tuple(a for a, _ in axes)
    patch = tuple(p for _, p in axes)
    grid = PatchGrid.plan(shape, patch, overlap=overlap)
    profiles = importance_profiles(patch, mode)
    backend = NumpyBackend()
    separable = SeparableWindowWeights(backend, grid, profiles)
    run = np.arange(len(grid))
    accumulated = AccumulatedWindowWeights(backend, grid, run, profiles, capacity=shape[0])
    _, lo, hi = grid.window_boxes()
    total = np.zeros(shape)
    for index in range(len(grid)):
        box = tuple(slice(a, b) for a, b in zip(lo[index], hi[index]))
        weights = separable.for_window(index)
        np.testing.assert_allclose(accumulated.for_window(index), weights, rtol=1e-5)
        total[box] += weights
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def test_accumulated_weights_of_a_subset_sum_to_one_where_covered():
    grid = PatchGrid.plan((20, 20), (8, 8), overlap=0.5)
    profiles = importance_profiles((8, 8), "gaussian")
    run = np.arange(len(grid))[::3]
    weights = AccumulatedWindowWeights(NumpyBackend(), grid, run, profiles, capacity=20)
    _, lo, hi = grid.window_boxes()
    total = np.zeros((20, 20))
    covered = np.zeros((20, 20), bool)
    for k, index in enumerate(run):
        box = tuple(slice(a, b) for a, b in zip(lo[index], hi[index]))
        total[box] += weights.for_window(k)
        covered[box] = True
    np.testing.assert_allclose(total[covered], 1.0, rtol=1e-5)
    assert np.all(total[~covered] == 0)
