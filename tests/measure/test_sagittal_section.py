"""SagittalSection's plane: the structure's centroid and its mid-sagittal slice, from the mask in any box."""

import numpy as np
import pytest

from spine_rt.measure.sagittal_section import MID_SLICE_AREA_FRACTION, SagittalSection

#: voxel -> RAS+ mm: voxel axis 2 points left-right (a sagittal stack, 4 mm slices), 0.5 mm in-plane
AFFINE = np.array([[0.0, 0.0, -4.0, 30.0],
                   [0.0, 0.5, 0.0, -10.0],
                   [0.5, 0.0, 0.0, 5.0],
                   [0.0, 0.0, 0.0, 1.0]])


def _blob(seed: int) -> np.ndarray:
    """``(40, 36, 9)`` bool: an irregular structure with unequal slice areas, away from the edges."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((40, 36, 9), bool)
    mask[8:30, 6:25, 2:8] = rng.random((22, 19, 6)) < np.linspace(0.3, 0.9, 6)
    return mask


def _expected_plane_voxel(mask: np.ndarray) -> np.ndarray:
    """The centroid of the True voxels, moved along the slice axis to the slice the module docstring names."""
    voxels = np.argwhere(mask)
    centroid = voxels.mean(axis=0)
    areas = np.bincount(voxels[:, 2], minlength=mask.shape[2])
    candidates = np.flatnonzero(areas >= MID_SLICE_AREA_FRACTION * areas.max())
    point = centroid.copy()
    point[2] = candidates[np.argmin(np.abs(candidates - centroid[2]))]
    return point


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centroid_and_mid_slice_follow_the_voxels_in_any_enclosing_box(seed):
    mask = _blob(seed)
    world = lambda voxel: AFFINE[:3, :3] @ voxel + AFFINE[:3, 3]  # noqa: E731
    expected_point = world(_expected_plane_voxel(mask))
    expected_centroid = world(np.argwhere(mask).mean(axis=0))
    for within in (None, (slice(0, 40), slice(0, 36), slice(0, 9)), (slice(5, 33), slice(3, None), slice(1, 9))):
        section = SagittalSection(mask, AFFINE, within)
        assert section.in_slice
        np.testing.assert_allclose(section.centroid, expected_centroid, rtol=0, atol=1e-9)
        np.testing.assert_allclose(section.point, expected_point, rtol=0, atol=1e-9)
    # a label-valued (uint8) mask reads as its non-zero voxels
    as_values = SagittalSection(mask.astype(np.uint8) * 7, AFFINE)
    np.testing.assert_allclose(as_values.point, expected_point, rtol=0, atol=1e-9)


def test_the_mid_slice_is_the_large_slice_nearest_the_centroid():
    """Slice areas 10, 100, 97, 60 along the left-right axis: slices 1 and 2 are within 95 % of the largest;
    the centroid (~1.9) is nearest slice 2, which is chosen over the largest one."""
    mask = np.zeros((20, 20, 4), bool)
    for k, area in enumerate((10, 100, 97, 60)):
        mask[:10, :10, k].flat[:area] = True
    section = SagittalSection(mask, AFFINE)
    slice_x = AFFINE[0, 2] * 2 + AFFINE[0, 3]  # world x of voxel slice 2
    assert section.point[0] == pytest.approx(slice_x)


def test_an_empty_mask_has_no_section():
    with pytest.raises(ValueError, match="empty mask"):
        SagittalSection(np.zeros((6, 6, 3), bool), AFFINE)
    mask = _blob(0)
    with pytest.raises(ValueError, match="empty mask"):
        SagittalSection(mask, AFFINE, (slice(0, 5), slice(0, 36), slice(0, 9)))  # a box away from the voxels
