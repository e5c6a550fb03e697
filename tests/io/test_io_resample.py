"""Resampling to a spacing: grid geometry, interpolation, and the way back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from spine_rt.errors import InputError
from spine_rt.io import SpacingResample


def test_target_grid_keeps_the_field_of_view():
    plan = SpacingResample.to_spacing((100, 60, 12), (0.5, 1.0, 4.0), (1.0, 0.75, 2.0))
    assert plan.target_shape == (50, 80, 24)
    affine = np.diag([0.5, 1.0, 4.0, 1.0])
    affine[:3, 3] = (3.0, -2.0, 7.0)
    target_affine = plan.apply_affine(affine)
    assert np.allclose(np.linalg.norm(target_affine[:3, :3], axis=0), (1.0, 0.75, 2.0))
    # the first voxel corner (index -0.5) is the same world point on both grids
    corner = np.array([-0.5, -0.5, -0.5, 1.0])
    assert np.allclose(target_affine @ corner, affine @ corner)
    # and so is the far corner when the field of view divides evenly
    assert np.allclose(target_affine @ [49.5, 79.5, 23.5, 1.0], affine @ [99.5, 59.5, 11.5, 1.0])


def test_at_least_one_voxel_per_axis():
    assert SpacingResample.to_spacing((3, 3, 3), (1, 1, 1), (10, 10, 10)).target_shape == (1, 1, 1)


def test_target_grid_covers_every_source_voxel():
    # 10 mm at 3 mm: 4 voxels (12 mm), not 3 (9 mm, which would leave the last source voxel outside)
    assert SpacingResample.to_spacing((10, 9, 8), (1, 1, 1), (3, 3, 3)).target_shape == (4, 3, 3)
    # an exact multiple gains no voxel from rounding noise
    assert SpacingResample.to_spacing((7, 7, 7), (0.1, 0.1, 0.1), (0.7, 0.7, 0.7)).target_shape == (1, 1, 1)


def test_same_spacing_is_the_identity_and_copies_nothing():
    plan = SpacingResample.to_spacing((4, 5, 6), (1.0, 2.0, 3.0), (1.0, 2.0 + 1e-9, 3.0))
    assert plan.is_identity
    values = np.random.default_rng(0).random((4, 5, 6))
    assert plan.apply(values, "linear") is values
    assert plan.undo(values, "nearest") is values


@pytest.mark.parametrize(
    "spacing",
    [(1.0, 1.0, 0.0), (1.0, -1.0, 1.0), (1.0, 1.0), (1.0, float("nan"), 1.0), "abc"],
)
def test_bad_spacing_is_an_input_error(spacing):
    with pytest.raises(InputError, match="spacing"):
        SpacingResample.to_spacing((4, 4, 4), (1, 1, 1), spacing)


def test_absurd_target_grid_is_refused():
    with pytest.raises(InputError, match="check the target spacing"):
        SpacingResample.to_spacing((512, 512, 512), (1, 1, 1), (0.001, 0.001, 0.001))


def test_bad_interpolation_lists_the_choices():
    plan = SpacingResample.to_spacing((4, 4, 4), (1, 1, 1), (2, 2, 2))
    with pytest.raises(InputError, match="linear, nearest"):
        plan.apply(np.zeros((4, 4, 4)), "cubic")


def test_wrong_shape_is_an_input_error():
    plan = SpacingResample.to_spacing((4, 4, 4), (1, 1, 1), (2, 2, 2))
    with pytest.raises(InputError, match="shape"):
        plan.apply(np.zeros((4, 4, 5)), "linear")
    with pytest.raises(InputError, match="shape"):
        plan.undo(np.zeros((4, 4, 4)), "linear")


def test_linear_interpolation_reproduces_a_linear_ramp_inside_the_grid():
    shape, spacing, target = (20, 16, 10), (1.0, 1.0, 2.0), (0.7, 1.3, 1.5)
    plan = SpacingResample.to_spacing(shape, spacing, target)
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    ramp = (0.5 * index[0] - 2.0 * index[1] + 3.0 * index[2]).astype(np.float32)
    out = plan.apply(ramp, "linear")
    assert out.dtype == np.float32
    target_index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in plan.target_shape], indexing="ij"))
    source_index = [r * t + o for r, t, o in zip(plan.scale, target_index, plan.offset)]
    expected = 0.5 * source_index[0] - 2.0 * source_index[1] + 3.0 * source_index[2]
    inside = np.all([(s >= 0) & (s <= n - 1) for s, n in zip(source_index, shape)], axis=0)
    assert inside.mean() > 0.6
    assert np.allclose(out[inside], expected[inside], atol=1e-4)


def test_nearest_keeps_label_values_and_dtype():
    labels = np.random.default_rng(0).integers(0, 20, size=(9, 8, 7)).astype(np.uint8)
    plan = SpacingResample.to_spacing(labels.shape, (1, 1, 1), (0.6, 1.7, 2.2))
    out = plan.apply(labels, "nearest")
    assert out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(labels))


def test_bool_masks_resample_as_bool():
    mask = np.zeros((6, 6, 6), bool)
    mask[2:4, 2:4, 2:4] = True
    plan = SpacingResample.to_spacing(mask.shape, (1, 1, 1), (0.5, 0.5, 0.5))
    out = plan.apply(mask, "nearest")
    assert out.dtype == np.bool_ and out.sum() == 8 * mask.sum()
    assert np.array_equal(plan.undo(out, "nearest"), mask)


def test_channels_are_resampled_independently():
    probs = np.random.default_rng(0).random((3, 8, 9, 10)).astype(np.float32)
    plan = SpacingResample.to_spacing((8, 9, 10), (1, 1, 1), (1.5, 0.8, 2.5))
    out = plan.apply(probs, "linear")
    assert out.shape == (3, *plan.target_shape)
    for channel in range(3):
        assert np.allclose(out[channel], plan.apply(probs[channel], "linear"))


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 9)] * 3),
    spacing=st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 1.25, 3.0])] * 3),
    finer=st.tuples(*[st.floats(0.3, 1.0)] * 3),
    seed=st.integers(0, 2**16),
)
def test_nearest_round_trip_is_exact_when_the_model_grid_is_finer(shape, spacing, finer, seed):
    """Upsampling with nearest neighbour then coming back loses nothing."""
    labels = np.random.default_rng(seed).integers(0, 5, size=shape).astype(np.uint8)
    target = tuple(s * f for s, f in zip(spacing, finer))
    plan = SpacingResample.to_spacing(shape, spacing, target)
    assert np.array_equal(plan.undo(plan.apply(labels, "nearest"), "nearest"), labels)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(*[st.integers(1, 12)] * 3),
    spacing=st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 1.25, 3.0])] * 3),
    factor=st.tuples(*[st.floats(0.3, 6.0)] * 3),
    seed=st.integers(0, 2**16),
)
def test_nearest_round_trip_changes_labels_only_near_boundaries(shape, spacing, factor, seed):
    """A voxel can change only where the labels vary within floor((r + 1) / 2) voxels along each axis."""
    labels = np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.uint8)
    plan = SpacingResample.to_spacing(shape, spacing, tuple(s * f for s, f in zip(spacing, factor)))
    back = plan.undo(plan.apply(labels, "nearest"), "nearest")
    size = [2 * math.floor((r + 1) / 2) + 1 for r in plan.scale]
    constant = ndimage.maximum_filter(labels, size=size) == ndimage.minimum_filter(labels, size=size)
    assert np.array_equal(back[constant], labels[constant])
