"""The Image type: validation at construction, spacing and orientation from the affine."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.io import Image


def _psr_affine() -> np.ndarray:
    # voxel axes point Posterior, Superior, Right; spacing 0.5, 2, 3 mm
    affine = np.zeros((4, 4))
    affine[1, 0] = -0.5
    affine[2, 1] = 2.0
    affine[0, 2] = 3.0
    affine[:3, 3] = (10.0, 20.0, 30.0)
    affine[3, 3] = 1.0
    return affine


def test_spacing_and_orientation_come_from_the_affine():
    image = Image(np.zeros((2, 3, 4), np.int16), _psr_affine())
    assert image.shape == (2, 3, 4)
    assert image.spacing == pytest.approx((0.5, 2.0, 3.0))
    assert image.orientation == ("P", "S", "R")
    assert image.affine.dtype == np.float64
    assert "PSR" in repr(image)


def test_oblique_spacing_is_the_column_norm():
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.9, 4.0])
    image = Image(np.zeros((3, 3, 3), np.float32), affine)
    assert image.spacing == pytest.approx((0.8, 0.9, 4.0))
    assert image.orientation == ("R", "A", "S")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4)), "2D"),
        (np.zeros((4, 4, 4, 2)), "4D"),
        (np.zeros((0, 4, 4)), "empty"),
        (np.array([[[np.nan]]]), "NaN"),
        (np.full((2, 2, 2), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((2, 2, 2), np.complex64), "not real"),
        (np.zeros((2, 2, 2), object), "not real"),
    ],
)
def test_bad_arrays_are_input_errors(array, message):
    with pytest.raises(InputError, match=message):
        Image(array, np.eye(4))


@pytest.mark.parametrize(
    ("affine", "message"),
    [
        (np.eye(3), "4x4"),
        (np.diag([1.0, 0.0, 1.0, 1.0]), "singular"),
        (np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float), "singular"),
        (np.diag([1.0, np.nan, 1.0, 1.0]), "NaN"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], float), "last row"),
    ],
)
def test_bad_affines_are_input_errors(affine, message):
    with pytest.raises(InputError, match=message):
        Image(np.zeros((2, 2, 2)), affine)


def test_errors_name_the_source_on_one_line(tmp_path):
    with pytest.raises(InputError) as caught:
        Image(np.zeros((2, 2)), np.eye(4), source=tmp_path / "scan.nii.gz")
    assert "scan.nii.gz" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bool_and_integer_volumes_are_accepted():
    assert Image(np.ones((2, 2, 2), bool), np.eye(4)).array.dtype == np.bool_
    assert Image(np.ones((2, 2, 2), np.uint16), np.eye(4)).array.dtype == np.uint16
