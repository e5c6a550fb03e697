"""The synthetic sagittal spine MR: determinism, labels, geometry, affine, options."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.phantoms import SpinePhantom, spine_mr
from spine_rt.phantoms.spine_mr import DEFAULT_SPACING_MM

SMALL = {"spacing": (4.4, 1.6, 1.6)}
VERTEBRA_IDS = list(range(1, 11))
DISC_IDS = list(range(11, 20))


@pytest.fixture(scope="module")
def default_phantom() -> SpinePhantom:
    return spine_mr(0)


def _central_slices(phantom: SpinePhantom, count: int = 3) -> slice:
    middle = int(round(phantom.midline_mm / phantom.spacing[0]))
    start = max(0, middle - count // 2)
    return slice(start, start + count)


def test_default_volume_has_mrspineseg_geometry(default_phantom):
    image, labels, affine = default_phantom
    assert image.dtype == np.float32 and labels.dtype == np.uint8 and affine.dtype == np.float64
    assert image.shape == labels.shape == default_phantom.shape
    n_slices, n_rows, n_cols = image.shape
    assert n_slices == 12
    assert 880 <= n_rows <= 1200 and 440 <= n_cols <= 720
    assert default_phantom.spacing == DEFAULT_SPACING_MM
    assert np.all(np.isfinite(image)) and image.min() >= 0.0


def test_all_nineteen_structures_are_in_the_central_slices(default_phantom):
    assert set(np.unique(default_phantom.labels)) == set(range(20))
    central = default_phantom.labels[_central_slices(default_phantom)]
    for label in range(1, 20):
        assert np.count_nonzero(central == label) > 100, MR_SPINE_LABELS[label]


def test_affine_orientation_and_spacing(default_phantom):
    affine = default_phantom.affine
    assert nib.aff2axcodes(affine) == ("R", "I", "P")
    np.testing.assert_allclose(nib.affines.voxel_sizes(affine), default_phantom.spacing)
    origin = affine @ [0, 0, 0, 1]
    sx, sy, sz = default_phantom.spacing
    np.testing.assert_allclose(affine @ [1, 0, 0, 1] - origin, [sx, 0, 0, 0])  # next slice: to the right
    np.testing.assert_allclose(affine @ [0, 1, 0, 1] - origin, [0, 0, -sy, 0])  # next row: inferior
    np.testing.assert_allclose(affine @ [0, 0, 1, 1] - origin, [0, -sz, 0, 0])  # next column: posterior
    centre = affine @ ([(n - 1) / 2 for n in default_phantom.shape] + [1])
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)


def test_anatomy_agrees_with_the_affine(default_phantom):
    """T9 is superior of L5 in world coordinates; the front of S1 is anterior of its back."""
    labels, affine = default_phantom.labels, default_phantom.affine

    def world_centroid(label: int) -> np.ndarray:
        return (affine @ np.append(np.argwhere(labels == label).mean(axis=0), 1.0))[:3]

    t9, l5, sacrum = world_centroid(10), world_centroid(2), world_centroid(1)
    assert t9[2] > l5[2] > sacrum[2]  # S coordinate decreases downwards

    s1 = default_phantom.spine.s1_endplate
    sx, sy, sz = default_phantom.spacing
    i = default_phantom.midline_mm / sx

    def world(point: tuple[float, float]) -> np.ndarray:
        ap, si = point
        return (affine @ [i, si / sy, ap / sz, 1.0])[:3]

    assert world(s1.anterior)[1] > world(s1.posterior)[1]  # A coordinate: front > back
    # the geometry's mm frame is the voxel grid's: S1's midpoint is labelled sacrum just below it
    middle = np.array(s1.midpoint)
    inside = middle + 4.0 * np.array([0.0, 1.0])
    voxel = (int(round(i)), int(round(inside[1] / sy)), int(round(inside[0] / sz)))
    assert labels[voxel] == 1


def test_same_seed_same_arrays_and_different_seeds_differ():
    first, second, other = spine_mr(3, **SMALL), spine_mr(3, **SMALL), spine_mr(4, **SMALL)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.affine, second.affine)
    assert first.image.shape != other.image.shape or not np.array_equal(first.labels, other.labels)


def test_small_volume_keeps_every_structure():
    phantom = spine_mr(1, **SMALL)
    assert phantom.spacing == SMALL["spacing"]
    assert phantom.shape[1] < 300 and phantom.shape[2] < 200
    assert set(np.unique(phantom.labels)) == set(range(20))


def test_given_shape_is_used():
    phantom = spine_mr(2, shape=(8, 200, 110), spacing=(4.4, 1.9, 1.9))
    assert phantom.shape == (8, 200, 110)
    assert set(np.unique(phantom.labels)) == set(range(20))


def test_noise_and_bias_do_not_change_the_anatomy():
    noisy = spine_mr(5, **SMALL)
    clean = spine_mr(5, noise=0.0, bias=0.0, **SMALL)
    np.testing.assert_array_equal(noisy.labels, clean.labels)
    assert not np.array_equal(noisy.image, clean.image)


def test_extra_field_of_view_adds_tissue_above_and_below_the_same_spine():
    standard = spine_mr(6, **SMALL)
    assert np.array_equal(spine_mr(6, extra_field_mm=None, **SMALL).labels, standard.labels)
    step = SMALL["spacing"][1]
    grown = []
    for seed in range(6, 10):
        before, after = spine_mr(seed, **SMALL), spine_mr(seed, extra_field_mm=60.0, **SMALL)
        extra_mm = (after.shape[1] - before.shape[1]) * step
        assert -step <= extra_mm <= 60.0 + step
        assert after.shape[2] == before.shape[2]
        assert set(np.unique(after.labels)) == set(range(20))
        # the same anatomy (the sacrum aside, which the field of view cuts): voxel counts agree up to
        # partial volume on a shifted grid
        for label in (3, 6, 10, 15):
            count = np.sum(before.labels == label)
            assert abs(np.sum(after.labels == label) - count) <= 0.15 * count
        top = np.argmax(after.labels.any(axis=(0, 2))) * step
        grown.append((extra_mm, top))
    assert max(extra for extra, _ in grown) > 10.0
    assert max(top for _, top in grown) > min(top for _, top in grown) + 5.0


def test_intensities_follow_the_t2_contrast_model():
    """Noise-free: discs (bright nuclei) are brighter than vertebrae on average,
    and every structure is far brighter than the air outside the body."""
    for seed in range(4):
        phantom = spine_mr(seed, noise=0.0, bias=0.0, **SMALL)
        image, labels = phantom.image, phantom.labels
        disc_mean = image[np.isin(labels, DISC_IDS)].mean()
        vertebra_mean = image[np.isin(labels, VERTEBRA_IDS)].mean()
        assert disc_mean > vertebra_mean
        air = image[:, :, -1].min()
        assert vertebra_mean > 5 * air + 1e-6


def test_labels_lie_inside_their_structures_with_partial_volume():
    """Labels mark voxels at least half filled: at 4.4 mm slices the outer slices
    are only partly covered by the bodies, so they carry fewer labelled voxels."""
    phantom = spine_mr(6, **SMALL)
    per_slice = [(phantom.labels[i] == 4).sum() for i in range(phantom.shape[0])]
    middle = int(round(phantom.midline_mm / phantom.spacing[0]))
    assert per_slice[middle] == max(per_slice)
    assert min(per_slice[0], per_slice[-1]) < per_slice[middle]


@pytest.mark.parametrize(
    "options",
    [
        {"seed": -1},
        {"seed": 1.5},
        {"seed": True},
        {"shape": (12, 10, 10)},
        {"shape": (12, 100)},
        {"shape": (12, 100.5, 100)},
        {"shape": "big"},
        {"spacing": (0.0, 1.0, 1.0)},
        {"spacing": (4.4, -1.0, 1.0)},
        {"spacing": (4.4, float("nan"), 1.0)},
        {"noise": -0.1},
        {"bias": 2.0},
        {"shape": (12, 100, 100)},  # 34 x 34 mm at the default spacing: no room for T9..S1
        {"extra_field_mm": -1.0},
        {"extra_field_mm": 500.0},
        {"extra_field_mm": True},
        {"extra_field_mm": 20.0, "shape": (8, 200, 110), "spacing": (4.4, 1.9, 1.9)},
    ],
)
def test_bad_options_raise_input_error(options):
    with pytest.raises(InputError):
        spine_mr(**options)
