"""The 18 lumbar/pelvic values measured on the phantom's exact mask recover the phantom's exact angles.

Tolerances. The mask is binary: an edge is known per pixel column only to
within one pixel, so a straight endplate fitted over the central 70 % of a
body about 100 pixels wide (1024-pixel phantom, ~0.34 mm pixels) has a
slope resolution of roughly 1 px / 70 px = 0.8 degrees in the worst case
(an almost horizontal edge whose staircase has no step in the fitted
part); in practice the error is below 0.6 degrees. A value from two
endplates (LL, a segmental angle) can add two such errors. PT and PI also
use the S1 midpoint and the hip axis, about 300 pixels apart and each
located to a fraction of a pixel (0.2 degrees). Hence, on 1024-pixel
phantoms: SS, PT, PI <= 1.0 degree; LL and every vertebral/disc angle <=
1.5 degrees; LDI (100 * L4S1 / LL) <= 3 %. At 512 pixels (bodies ~50 px
wide, as a network mask resized from 512 x 512 would be) the limits double
for the segmental angles: <= 1.5 degrees for SS/PT/PI and LL, <= 2.5 for
vertebral/disc angles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.measure import NORMAL_RANGES, measure_lumbar_parameters
from spine_rt.measure.mask_components import class_components
from spine_rt.phantoms import lumbar_xray

PELVIC = ("SS", "PT", "PI")
SEGMENTAL = ("L1", "L2", "L3", "L4", "L5", "L1L2", "L2L3", "L3L4", "L4L5", "L5S1", "L4S1")


def _errors(xray, measured) -> dict[str, float]:
    truth = xray.parameters.as_dict()
    return {name: abs(measured.values[name] - truth[name]) for name in INSPECTION_VALUE_NAMES}


@pytest.mark.parametrize("mirror", [False, True], ids=["faces-left", "faces-right"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_true_mask_recovers_the_phantom_angles(seed, mirror):
    xray = lumbar_xray(seed, mirror=mirror)
    measured = measure_lumbar_parameters(xray.mask)
    errors = _errors(xray, measured)
    assert measured.landmarks.facing == ("right" if mirror else "left")
    assert measured.landmarks.facing_from == "hip axis"
    assert [v.level for v in measured.landmarks.vertebrae] == ["L1", "L2", "L3", "L4", "L5"]
    assert not measured.landmarks.notes
    assert max(errors[name] for name in PELVIC) <= 1.0, errors
    assert errors["LL"] <= 1.5 and errors["PI-LL"] <= 2.0 and errors["RLL"] <= 2.0, errors
    assert max(errors[name] for name in SEGMENTAL) <= 1.5, errors
    assert errors["LDI"] <= 3.0, errors


@pytest.mark.parametrize(("seed", "incidence", "tilt", "mirror"), [(10, 82.0, 17.0, False), (11, 36.0, 14.0, True),
                                                                   (12, 45.0, -5.0, True), (13, 60.0, 40.0, False)])
def test_extreme_pelves(seed, incidence, tilt, mirror):
    """PI at both ends of the normal range, a negative PT (hip axis behind the S1 midpoint), SS 20."""
    xray = lumbar_xray(seed, pelvic_incidence_deg=incidence, pelvic_tilt_deg=tilt, mirror=mirror)
    measured = measure_lumbar_parameters(xray.mask)
    errors = _errors(xray, measured)
    assert measured.landmarks.facing == ("right" if mirror else "left")
    assert max(errors[name] for name in PELVIC) <= 1.0, errors
    assert errors["LL"] <= 1.5, errors


def test_half_resolution_masks_stay_within_the_coarser_limits():
    for seed in range(20, 26):
        xray = lumbar_xray(seed, size=512, mirror=bool(seed % 2))
        errors = _errors(xray, measure_lumbar_parameters(xray.mask))
        assert max(errors[name] for name in (*PELVIC, "LL")) <= 1.5, (seed, errors)
        assert max(errors[name] for name in SEGMENTAL if name != "L4S1") <= 2.5, (seed, errors)


def test_non_square_pixels_are_measured_in_mm():
    xray = lumbar_xray(3)
    # stretch the rows by 2 (as an image stored with 2:1 pixels would be): rows spaced half as far
    stretched = np.repeat(xray.mask, 2, axis=0)
    spacing = (xray.pixel_spacing_mm / 2.0, xray.pixel_spacing_mm)
    measured = measure_lumbar_parameters(stretched, pixel_spacing_mm=spacing)
    errors = _errors(xray, measured)
    assert max(errors[name] for name in PELVIC) <= 1.0 and errors["LL"] <= 1.5, errors
    assert measured.report()["angles_in"].startswith("mm")
    naive = measure_lumbar_parameters(stretched)
    assert abs(naive.values["SS"] - xray.parameters.ss) > 5.0  # without the spacing the angles are wrong


def _without(mask: np.ndarray, *classes: int) -> np.ndarray:
    cleared = mask.copy()
    cleared[np.isin(cleared, classes)] = 0
    return cleared


def test_missing_structures_leave_their_values_unmeasured_and_the_rest_right():
    xray = lumbar_xray(5, mirror=True)
    truth = xray.parameters.as_dict()
    no_heads = measure_lumbar_parameters(_without(xray.mask, 3, 4))
    assert no_heads.values["PT"] is None and no_heads.values["PI"] is None and no_heads.values["RLL"] is None
    assert abs(no_heads.values["SS"] - truth["SS"]) <= 1.0 and abs(no_heads.values["LL"] - truth["LL"]) <= 1.5
    assert no_heads.landmarks.facing == "right" and no_heads.landmarks.facing_from == "lumbar curve"
    assert any("femoral head" in note for note in no_heads.landmarks.notes)

    no_sacrum = measure_lumbar_parameters(_without(xray.mask, 2))
    assert no_sacrum.values["SS"] is None and no_sacrum.values["LL"] is None and no_sacrum.values["L5S1"] is None
    assert abs(no_sacrum.values["L1L2"] - truth["L1L2"]) <= 1.5

    top_removed = xray.mask.copy()
    first = class_components(top_removed, 1)[0][0]
    top_removed[first.pixels[:, 1].astype(int), first.pixels[:, 0].astype(int)] = 0
    no_l1 = measure_lumbar_parameters(top_removed)
    assert [v.level for v in no_l1.landmarks.vertebrae] == ["L2", "L3", "L4", "L5"]
    assert no_l1.values["LL"] is None and no_l1.values["L1"] is None
    assert abs(no_l1.values["L2"] - truth["L2"]) <= 1.5 and abs(no_l1.values["L4S1"] - truth["L4S1"]) <= 1.5


def test_an_empty_or_noisy_mask_gives_unmeasured_values_not_errors():
    empty = measure_lumbar_parameters(np.zeros((64, 80), np.uint8))
    assert all(value is None for value in empty.values.values())
    assert empty.landmarks.facing_from == "assumed"
    rng = np.random.default_rng(0)
    for _ in range(5):
        noisy = rng.integers(0, 5, size=(96, 96)).astype(np.uint8)
        report = measure_lumbar_parameters(noisy).report()
        assert set(report["values"]) == set(INSPECTION_VALUE_NAMES)
    with pytest.raises(ValueError, match="2D"):
        measure_lumbar_parameters(np.zeros((4, 4, 4), np.uint8))


def test_report_flags_each_value_against_the_normal_ranges():
    report = measure_lumbar_parameters(lumbar_xray(0).mask).report()
    values = report["values"]
    assert list(values) == list(INSPECTION_VALUE_NAMES)
    for name, entry in values.items():
        assert entry["unit"] == ("%" if name == "LDI" else "degrees")
        if name in NORMAL_RANGES:
            low, high = NORMAL_RANGES[name]
            expected = "low" if entry["value"] < low else "high" if entry["value"] > high else "normal"
            assert entry["normal_range"] == [low, high] and entry["flag"] == expected
        else:
            assert entry["normal_range"] is None and entry["flag"] == "no range"
        assert math.isfinite(entry["value"])
