"""Reorientation to axis codes: every one of the 48 orientations, exactly and reversibly."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.io import MR_MODEL_AXES, AxisReorientation, parse_axis_codes
from spine_rt.io.orientation import opposite_codes


def _all_codes() -> list[tuple[str, str, str]]:
    codes = []
    for axes in itertools.permutations(range(3)):
        for signs in itertools.product((0, 1), repeat=3):
            codes.append(tuple(("RL", "AP", "SI")[a][s] for a, s in zip(axes, signs)))
    return codes


ALL_CODES = _all_codes()


def _affine_for(codes, spacing=(0.9, 1.1, 3.0), origin=(-5.0, 7.0, 11.0)) -> np.ndarray:
    """An affine whose voxel axes point along ``codes`` with the given spacing."""
    affine = np.eye(4)
    affine[:3, :3] = 0
    for axis, (code, step) in enumerate(zip(codes, spacing)):
        world = "RAS".find(code) if code in "RAS" else "LPI".find(code)
        affine[world, axis] = step if code in "RAS" else -step
    affine[:3, 3] = origin
    return affine


def test_there_are_48_orientations():
    assert len(set(ALL_CODES)) == 48


@pytest.mark.parametrize("codes", [("R", "A", "S"), "ipr", ["P", "S", "R"]])
def test_parse_axis_codes_accepts_tuples_strings_lists(codes):
    assert len(parse_axis_codes(codes)) == 3


@pytest.mark.parametrize("codes", ["RA", "RAX", "RRS", "RLS", ("R", "A", "S", "I")])
def test_parse_axis_codes_rejects_bad_codes(codes):
    with pytest.raises(InputError, match="axis codes"):
        parse_axis_codes(codes)


def test_opposite_codes():
    assert opposite_codes("RAS") == ("L", "P", "I")


def test_mr_model_axes_are_valid_codes():
    assert parse_axis_codes(MR_MODEL_AXES) == ("I", "P", "R")


@pytest.mark.parametrize("source", ALL_CODES)
def test_every_orientation_reaches_the_target_and_round_trips_exactly(source):
    rng = np.random.default_rng(0)
    shape = (3, 4, 5)
    array = rng.integers(0, 1000, size=shape)
    affine = _affine_for(source)
    reorientation = AxisReorientation.between(affine, shape, MR_MODEL_AXES)
    moved = reorientation.apply(array)
    new_affine = reorientation.apply_affine(affine)
    assert nib.aff2axcodes(new_affine) == MR_MODEL_AXES
    assert moved.shape == reorientation.target_shape
    assert np.array_equal(reorientation.undo(moved), array)
    # same world position for every voxel centre: compare the value found at each world point
    index = np.stack(np.meshgrid(*[np.arange(n) for n in moved.shape], indexing="ij"), -1).reshape(-1, 3)
    world = nib.affines.apply_affine(new_affine, index)
    source_index = np.rint(nib.affines.apply_affine(np.linalg.inv(affine), world)).astype(int)
    assert np.allclose(nib.affines.apply_affine(affine, source_index), world, atol=1e-9)
    assert np.array_equal(array[tuple(source_index.T)], moved[tuple(index.T)])


@pytest.mark.parametrize("source", ALL_CODES[::7])
def test_matches_nibabel_apply_orientation(source):
    shape = (2, 3, 4)
    array = np.arange(24).reshape(shape)
    affine = _affine_for(source)
    reorientation = AxisReorientation.between(affine, shape, ("L", "P", "S"))
    transform = nib.orientations.ornt_transform(nib.io_orientation(affine), nib.orientations.axcodes2ornt("LPS"))
    assert np.array_equal(reorientation.apply(array), nib.orientations.apply_orientation(array, transform))
    expected_affine = affine @ nib.orientations.inv_ornt_aff(transform, shape)
    assert np.allclose(reorientation.apply_affine(affine), expected_affine)


def test_leading_channel_axes_are_kept():
    shape = (3, 4, 5)
    probs = np.random.default_rng(1).random((2, *shape))
    reorientation = AxisReorientation.between(_affine_for("PSR"), shape, "IPR")
    moved = reorientation.apply(probs)
    assert moved.shape == (2, *reorientation.target_shape)
    for channel in range(2):
        assert np.array_equal(moved[channel], reorientation.apply(probs[channel]))
    assert np.array_equal(reorientation.undo(moved), probs)


def test_oblique_affine_is_matched_to_closest_axes():
    angle = np.deg2rad(25)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ _affine_for("PSR")[:3, :3]
    reorientation = AxisReorientation.between(affine, (3, 4, 5), MR_MODEL_AXES)
    assert nib.aff2axcodes(reorientation.apply_affine(affine)) == MR_MODEL_AXES


def test_identity_when_already_in_target_order():
    reorientation = AxisReorientation.between(_affine_for("IPR"), (3, 4, 5), "IPR")
    assert reorientation.is_identity
    assert np.array_equal(reorientation.index_map(), np.eye(4))
