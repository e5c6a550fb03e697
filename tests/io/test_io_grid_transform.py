"""GridTransform on synthetic volumes: forward to the model grid, and the exact inverse."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.io import MR_MODEL_AXES, GridTransform, Image


def _oblique_psr_image(shape=(18, 22, 9)) -> Image:
    """A PSR image (like sct_t2_cervical) rotated 10 degrees, anisotropic spacing."""
    angle = np.deg2rad(10)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    axes = np.array([[0, 0, 1.0], [-1.0, 0, 0], [0, 1.0, 0]])  # columns: P, S, R
    affine = np.eye(4)
    affine[:3, :3] = rotation @ axes @ np.diag([0.9, 1.1, 3.5])
    affine[:3, 3] = (-20.0, 13.0, 40.0)
    array = np.random.default_rng(0).normal(100, 20, size=shape).astype(np.float32)
    return Image(array, affine, header=None, meta={"format": "test"})


def test_forward_lands_on_the_model_grid():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (0.6, 0.7, 2.0))
    model = grid.forward(image)
    assert model.orientation == MR_MODEL_AXES == grid.target_axes
    assert model.spacing == pytest.approx((0.6, 0.7, 2.0))
    assert model.shape == grid.target_shape
    assert np.array_equal(model.affine, grid.target_affine)
    assert model.array.dtype == np.float32


def test_inverse_of_labels_has_exactly_the_input_geometry():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (0.6, 0.7, 2.0))
    labels = np.random.default_rng(1).integers(0, 20, size=grid.target_shape).astype(np.uint8)
    back = grid.inverse(labels)
    assert back.shape == image.shape
    assert np.array_equal(back.affine, image.affine)
    assert back.orientation == image.orientation == ("P", "S", "R")
    assert back.array.dtype == np.uint8
    assert set(np.unique(back.array)) <= set(np.unique(labels))


def test_inverse_of_probabilities_keeps_channels_and_sums():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, "IPR", (1.4, 0.7, 5.0))
    logits = np.random.default_rng(2).normal(size=(4, *grid.target_shape)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
    back = grid.inverse_array(probs)
    assert back.shape == (4, *image.shape)
    assert back.dtype == np.float32
    assert back.flags.c_contiguous
    # linear interpolation is a convex combination: class probabilities still sum to one
    assert np.allclose(back.sum(0), 1.0, atol=1e-5)


def test_reorientation_only_round_trips_exactly():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES)
    assert grid.resample.is_identity
    model = grid.forward(image)
    assert model.spacing == pytest.approx((1.1, 0.9, 3.5))
    assert np.array_equal(grid.inverse(model.array).array, image.array)
    # every voxel centre keeps its world position: compare the two affines through the index map
    assert np.allclose(model.affine, image.affine @ grid.reorientation.index_map(), atol=1e-12)


def test_world_positions_of_model_voxels_agree_with_the_index_map():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (0.5, 0.5, 2.0))
    index_map = grid.reorientation.index_map() @ grid.resample.index_map()  # model index -> input index
    model_index = np.array([[0, 0, 0], [5, 7, 3], [grid.target_shape[0] - 1, 0, 1]], float)
    world_model = nib.affines.apply_affine(grid.target_affine, model_index)
    world_input = nib.affines.apply_affine(image.affine, nib.affines.apply_affine(index_map, model_index))
    assert np.allclose(world_model, world_input, atol=1e-9)


def test_identity_transform_changes_nothing():
    image = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([-0.5, -1.0, 2.0, 1.0]))
    grid = GridTransform.to_model(image, image.orientation, image.spacing)
    assert grid.is_identity
    assert np.array_equal(grid.forward(image, "nearest").array, image.array)


def test_forward_refuses_an_image_on_another_grid():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (1, 1, 1))
    other = Image(image.array, image.affine @ np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="not on the grid"):
        grid.forward(other)
    with pytest.raises(InputError, match="shape"):
        grid.forward_array(np.zeros((3, 3, 3)))


def test_inverse_refuses_arrays_not_on_the_model_grid():
    image = _oblique_psr_image()
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (1, 1, 1))
    with pytest.raises(InputError, match="shape"):
        grid.inverse(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(InputError, match="3D"):
        grid.inverse(np.zeros((2, *grid.target_shape), np.uint8))


def test_bad_model_axes_or_spacing_are_input_errors():
    image = _oblique_psr_image()
    with pytest.raises(InputError, match="axis codes"):
        GridTransform.to_model(image, "RAX", (1, 1, 1))
    with pytest.raises(InputError, match="spacing"):
        GridTransform.to_model(image, "RAS", (1, 0, 1))


def test_inverse_hands_on_the_input_header():
    header = nib.Nifti1Header()
    image = Image(np.zeros((4, 5, 6), np.float32), np.eye(4), header=header)
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (2, 2, 2))
    back = grid.inverse(grid.forward(image))
    assert back.header is header
    assert back.source is None
