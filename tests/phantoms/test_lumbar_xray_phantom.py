"""The synthetic lateral lumbar X-ray: mask, geometry, exact angles, options."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from spine_rt.errors import InputError
from spine_rt.anatomy.label_tables import XRAY_LABELS
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.phantoms import LumbarXray, lumbar_xray

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _inside_convex(points: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Which ``(N, 2)`` ``(x, y)`` points lie in the convex polygon ``corners``."""
    signs = []
    for i in range(len(corners)):
        a, b = corners[i], corners[(i + 1) % len(corners)]
        signs.append((b[0] - a[0]) * (points[:, 1] - a[1]) - (b[1] - a[1]) * (points[:, 0] - a[0]))
    signs = np.stack(signs)
    return np.all(signs >= 0, axis=0) | np.all(signs <= 0, axis=0)


def _tilt(endplate) -> float:
    """Independent tilt: arcsine of the drop of the anterior end over the length."""
    (ax, ay), (px, py) = endplate.anterior, endplate.posterior
    return math.degrees(math.asin((ay - py) / math.hypot(ax - px, ay - py)))


def test_default_image_is_1024_square_with_sub_millimetre_pixels():
    xray = lumbar_xray(0)
    assert xray.image.shape == xray.mask.shape == (1024, 1024)
    assert xray.image.dtype == np.uint8 and xray.mask.dtype == np.uint8
    assert 0.2 < xray.pixel_spacing_mm < 0.6
    rgb = xray.rgb()
    assert rgb.shape == (1024, 1024, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], xray.image) and np.array_equal(rgb[..., 2], xray.image)


def test_same_seed_same_result_and_different_seeds_differ():
    first, second, other = lumbar_xray(7, size=256), lumbar_xray(7, size=256), lumbar_xray(8, size=256)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert first.parameters == second.parameters
    assert not np.array_equal(first.mask, other.mask)
    assert first.parameters != other.parameters


@pytest.mark.parametrize("seed", range(6))
def test_mask_has_five_vertebrae_a_sacrum_and_two_heads(seed):
    xray = lumbar_xray(seed, size=384)
    image, mask = xray
    assert set(np.unique(mask)) == set(XRAY_LABELS)
    for structure in (None, EIGHT_CONNECTED):
        components, count = ndimage.label(mask == 1, structure=structure)
        assert count == 5
    assert ndimage.label(mask == 2, structure=EIGHT_CONNECTED)[1] == 1
    # components sorted top to bottom are L1..L5, each inside its own quadrilateral
    centroids = ndimage.center_of_mass(mask == 1, components, range(1, 6))
    order = np.argsort([row for row, _ in centroids])
    for level, index in enumerate(order):
        upper, lower = xray.vertebrae[level]
        corners = np.array([upper.anterior, upper.posterior, lower.posterior, lower.anterior])
        rows, cols = np.nonzero(components == index + 1)
        inside = _inside_convex(np.stack([cols, rows], axis=1).astype(float), corners)
        assert inside.mean() > 0.97
    assert image[mask == 1].mean() > image[mask == 0].mean()  # bone is brighter


def test_mask_follows_the_s1_endplate_and_the_femoral_heads():
    xray = lumbar_xray(2, size=512)
    mask = xray.mask
    s1 = xray.s1_endplate
    along = np.subtract(s1.posterior, s1.anterior)
    normal = np.array([-along[1], along[0]]) / np.hypot(*along)
    if normal[1] < 0:
        normal = -normal  # pointing down, into the sacrum
    below = np.add(s1.midpoint, 3.0 * normal)
    above = np.subtract(s1.midpoint, 3.0 * normal)
    assert mask[round(below[1]), round(below[0])] == 2
    assert mask[round(above[1]), round(above[0])] == 0

    head1, head2 = xray.femoral_heads
    assert head1.centre[0] < head2.centre[0]  # head 1 is the more anterior one (patient faces left)
    assert mask[round(head1.centre[1]), round(head1.centre[0])] == 3
    for value, head in ((3, head1), (4, head2)):
        rows, cols = np.nonzero(mask == value)
        distance = np.hypot(cols - head.centre[0], rows - head.centre[1])
        assert distance.max() <= head.radius + 0.5
        assert len(rows) > 0
    np.testing.assert_allclose(xray.hip_axis, np.mean([head1.centre, head2.centre], axis=0), atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_angles_are_realistic_and_pi_is_pt_plus_ss(seed):
    p = lumbar_xray(seed, size=128).parameters
    assert abs(p.pi - (p.pt + p.ss)) < 1e-9
    assert 34 <= p.pi <= 84 and 31 <= p.ll <= 79 and 20 <= p.ss <= 65 and 5 <= p.pt <= 30
    assert 0 < p.l5s1 < 30 and p.l4l5 > 0
    parts = (p.l1, p.l2, p.l3, p.l4, p.l5, p.l1l2, p.l2l3, p.l3l4, p.l4l5, p.l5s1)
    assert abs(sum(parts) - p.ll) < 1e-9
    assert list(p.as_dict()) == list(INSPECTION_VALUE_NAMES)


@pytest.mark.parametrize("mirror", [False, True])
def test_reported_angles_match_the_returned_geometry(mirror):
    """Recompute every angle from the endplates and heads with other formulas."""
    xray: LumbarXray = lumbar_xray(11, size=256, mirror=mirror)
    p = xray.parameters
    s1 = xray.s1_endplate
    (l1_upper, _), _, _, (l4_upper, _), _ = xray.vertebrae
    assert abs(p.ss - _tilt(s1)) < 1e-9
    assert abs(p.ll - (_tilt(s1) - _tilt(l1_upper))) < 1e-9
    assert abs(p.l4s1 - (_tilt(s1) - _tilt(l4_upper))) < 1e-9
    wedges = [_tilt(lower) - _tilt(upper) for upper, lower in xray.vertebrae]
    np.testing.assert_allclose([p.l1, p.l2, p.l3, p.l4, p.l5], wedges, atol=1e-9)
    lowers = [lower for _, lower in xray.vertebrae]
    uppers = [upper for upper, _ in xray.vertebrae[1:]] + [s1]
    discs = [_tilt(b) - _tilt(a) for a, b in zip(lowers, uppers)]
    np.testing.assert_allclose([p.l1l2, p.l2l3, p.l3l4, p.l4l5, p.l5s1], discs, atol=1e-9)

    middle = np.array(s1.midpoint)
    hip = np.mean([head.centre for head in xray.femoral_heads], axis=0)
    to_s1 = (middle - hip) / np.linalg.norm(middle - hip)
    pelvic_tilt = math.degrees(math.acos(np.dot(to_s1, [0.0, -1.0])))  # vs straight up (rows grow down)
    posterior = np.sign(s1.posterior[0] - s1.anterior[0])
    if posterior * (middle[0] - hip[0]) < 0:  # hip axis behind the S1 midpoint
        pelvic_tilt = -pelvic_tilt
    assert abs(p.pt - pelvic_tilt) < 1e-9

    along = np.subtract(s1.posterior, s1.anterior)
    into_pelvis = np.array([-along[1], along[0]]) / np.linalg.norm(along)
    if into_pelvis[1] < 0:
        into_pelvis = -into_pelvis
    to_hip = (hip - middle) / np.linalg.norm(hip - middle)
    incidence = math.degrees(math.acos(np.dot(into_pelvis, to_hip)))
    assert abs(p.pi - incidence) < 1e-9
    assert abs(p.pi_minus_ll - (p.pi - p.ll)) < 1e-12
    assert abs(p.ldi - 100.0 * p.l4s1 / p.ll) < 1e-9
    assert abs(p.rll - (p.ll - (0.62 * p.pi + 29.0))) < 1e-9


def test_mirror_flips_the_image_but_keeps_the_angles():
    plain, mirrored = lumbar_xray(4, size=256), lumbar_xray(4, size=256, mirror=True)
    np.testing.assert_array_equal(mirrored.image, plain.image[:, ::-1])
    np.testing.assert_array_equal(mirrored.mask, plain.mask[:, ::-1])
    for name, value in plain.parameters.as_dict().items():
        assert abs(mirrored.parameters.as_dict()[name] - value) < 1e-9, name
    width = plain.image.shape[1]
    assert abs(mirrored.s1_endplate.anterior[0] - (width - 1 - plain.s1_endplate.anterior[0])) < 1e-9
    assert mirrored.femoral_heads[0].centre[0] > mirrored.femoral_heads[1].centre[0]  # anterior is now right


def test_forced_angles_are_exact():
    p = lumbar_xray(0, size=256, pelvic_incidence_deg=60.0, pelvic_tilt_deg=20.0, lumbar_lordosis_deg=55.0).parameters
    assert abs(p.pi - 60.0) < 1e-9 and abs(p.pt - 20.0) < 1e-9
    assert abs(p.ss - 40.0) < 1e-9 and abs(p.ll - 55.0) < 1e-9


def test_rectangular_size_and_given_spacing():
    xray = lumbar_xray(3, size=(320, 256), pixel_spacing_mm=1.3)
    assert xray.image.shape == (320, 256) and xray.pixel_spacing_mm == 1.3
    assert set(np.unique(xray.mask)) == set(XRAY_LABELS)


@pytest.mark.parametrize(
    "options",
    [
        {"seed": -1},
        {"size": 10},
        {"size": (256,)},
        {"size": (256, 256.0)},
        {"pixel_spacing_mm": 0.0},
        {"size": 256, "pixel_spacing_mm": 0.2},  # 51 mm of image cannot hold L1..hips
        {"pelvic_incidence_deg": 150.0},
        {"pelvic_incidence_deg": 40.0, "pelvic_tilt_deg": 40.0},  # sacral slope 0
        {"lumbar_lordosis_deg": -5.0},
        {"noise": -1.0},
        {"mirror": "yes"},
    ],
)
def test_bad_options_raise_input_error(options):
    with pytest.raises(InputError):
        lumbar_xray(**options)
