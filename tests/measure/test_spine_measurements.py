"""Heights, endplate angles and lordosis measured on phantoms against their exact geometry.

Tolerances (issue 17): heights within max(0.5 mm, one in-plane voxel), angles
within 1 degree; several spacings (isotropic and anisotropic in-plane),
axis orders, flips and an oblique world.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.measure import Measurement, genant_grade, measure_spine
from spine_rt.phantoms import spine_mr, true_geometry

HEIGHTS = {"anterior_height": "anterior_height_mm", "middle_height": "middle_height_mm",
           "posterior_height": "posterior_height_mm"}
ANGLES = {"upper_endplate_tilt": "upper_tilt_deg", "lower_endplate_tilt": "lower_tilt_deg",
          "wedge_angle": "wedge_angle_deg", "angle": "wedge_angle_deg"}


def reoriented(labels: np.ndarray, affine: np.ndarray, order: tuple[int, int, int],
               flips: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels in another axis order with some axes flipped; the affine keeps every voxel in place."""
    data = np.transpose(labels, order)
    new = np.eye(4)
    new[:3, :3] = affine[:3, :3][:, order]
    new[:3, 3] = affine[:3, 3]
    for axis in flips:
        data = np.flip(data, axis)
        new[:3, 3] += new[:3, axis] * (data.shape[axis] - 1)
        new[:3, axis] *= -1
    return np.ascontiguousarray(data), new


def rotation_about_left_right(degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    world = np.eye(4)
    world[1:3, 1:3] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    return world


def compare(measured, truth: dict, height_tolerance: float) -> list[str]:
    problems = []
    for structure in measured.structures:
        expected = truth["structures"].get(structure.label, {})
        for m in structure.measurements:
            key = HEIGHTS.get(m.name) or ANGLES.get(m.name)
            if key is None or key not in expected:
                continue
            if m.value is None:
                problems.append(f"{structure.name} {m.name} missing: {m.missing_reason}")
                continue
            tolerance = height_tolerance if m.name in HEIGHTS else 1.0
            if abs(m.value - expected[key]) > tolerance:
                problems.append(f"{structure.name} {m.name} {m.value:.2f} vs {expected[key]:.2f}")
    lordosis = measured.spine[0]
    if lordosis.value is None or abs(lordosis.value - truth["lordosis_deg"]) > 1.0:
        problems.append(f"lordosis {lordosis} vs {truth['lordosis_deg']:.2f}")
    return problems


@pytest.mark.parametrize("seed, spacing, order, flips, turn", [
    (5, (4.4, 0.6, 0.6), (0, 1, 2), (), 0.0),
    (6, (4.4, 0.3448, 0.3448), (2, 0, 1), (1,), 0.0),
    (7, (4.4, 0.5, 0.8), (1, 2, 0), (0, 2), 0.0),
    (8, (3.0, 0.45, 0.45), (0, 1, 2), (), 20.0),
])
def test_heights_and_angles_match_the_phantom(seed, spacing, order, flips, turn):
    phantom = spine_mr(seed, spacing=spacing, noise=0.0, bias=0.0)
    world = rotation_about_left_right(turn)
    labels, affine = reoriented(phantom.labels, world @ phantom.affine, order, flips)
    truth = true_geometry(phantom, world=world)
    measured = measure_spine(labels, affine, MR_SPINE_LABELS)
    tolerance = max(0.5, max(spacing[1:]))
    assert compare(measured, truth, tolerance) == []
    s1 = measured.structure("S").value("s1_endplate_tilt")
    assert s1 == pytest.approx(truth["s1_tilt_deg"], abs=1.0)


def test_ratios_grades_and_disc_index_follow_the_heights():
    phantom = spine_mr(5, spacing=(4.4, 0.6, 0.6), noise=0.0, bias=0.0)
    measured = measure_spine(phantom.labels, phantom.affine, MR_SPINE_LABELS)
    l3 = measured.structure("L3")
    assert l3.value("wedge_ratio") == pytest.approx(l3.value("anterior_height") / l3.value("posterior_height"))
    assert l3.value("biconcavity_ratio") == pytest.approx(l3.value("middle_height") / l3.value("posterior_height"))
    assert l3.value("deformity_grade") == 0.0
    disc = measured.structure("L3/L4")
    mean = (disc.value("anterior_height") + disc.value("middle_height") + disc.value("posterior_height")) / 3
    assert disc.value("mean_height") == pytest.approx(mean)
    body = (l3.value("anterior_height") + l3.value("middle_height") + l3.value("posterior_height")) / 3
    assert disc.value("disc_height_index") == pytest.approx(mean / body)
    assert any("corners of L3 and L4" in note for note in disc.notes)
    # a structure reaching the first or last sagittal slice is cut left-right: its volume is missing, with the reason
    voxel = float(np.prod(phantom.spacing))
    for structure in measured.structures:
        inside = phantom.labels == structure.label
        if inside[0].any() or inside[-1].any():
            assert structure.value("volume") is None and "left-right" in structure.get("volume").missing_reason
        else:
            assert structure.value("volume") == pytest.approx(np.count_nonzero(inside) * voxel)


def test_missing_neighbours_and_cut_structures_are_missing_with_reasons():
    phantom = spine_mr(5, spacing=(4.4, 0.6, 0.6), noise=0.0, bias=0.0)
    labels = phantom.labels.copy()
    labels[labels == 6] = 0  # no L1
    labels[labels == 7] = 0  # no T12
    names = MR_SPINE_LABELS
    measured = measure_spine(labels, phantom.affine, names)
    assert measured.spine[0].value is None and "L1 not labelled" in measured.spine[0].missing_reason
    index = measured.structure("T12/L1").get("disc_height_index")
    assert index.value is None and "T12" in index.missing_reason
    # cut L3 by the field of view: keep the grid rows from the middle of L3 down
    rows = np.nonzero((phantom.labels == 4).any(axis=(0, 2)))[0]
    cut = phantom.labels[:, (rows.min() + rows.max()) // 2:, :]
    affine = phantom.affine.copy()
    affine[:3, 3] += affine[:3, 1] * ((rows.min() + rows.max()) // 2)
    l3 = measure_spine(cut, affine, names).structure("L3")
    assert l3.value("anterior_height") is None
    assert "cut by the field of view" in l3.get("anterior_height").missing_reason
    assert all(row["value"] is None or math.isfinite(row["value"]) for row in measured.rows())


def test_measurement_values_and_grades():
    with pytest.raises(ValueError):
        Measurement("x", None, "mm")
    with pytest.raises(ValueError):
        Measurement("x", 1.0, "mm", "and a reason")
    assert Measurement("h", 1.23456, "mm").as_dict() == {"value": 1.235, "unit": "mm"}
    assert Measurement.missing("h", "mm", "why").as_dict() == {"value": None, "unit": "mm", "missing": "why"}
    assert [genant_grade(r) for r in (1.1, 0.80, 0.79, 0.75, 0.74, 0.60, 0.59)] == [0, 0, 1, 1, 2, 2, 3]


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError):
        measure_spine(np.zeros((4, 4), np.uint8), np.eye(4), MR_SPINE_LABELS)
    with pytest.raises(ValueError):
        measure_spine(np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4)), MR_SPINE_LABELS)
    with pytest.raises(ValueError, match="integer"):
        measure_spine(np.zeros((4, 4, 4), np.float32), np.eye(4), MR_SPINE_LABELS)


def test_an_empty_label_map_has_no_structures():
    from spine_rt.measure import read_spine

    empty = np.zeros((6, 20, 20), np.uint8)
    assert measure_spine(empty, np.eye(4), MR_SPINE_LABELS).structures == ()
    reading = read_spine(empty, np.eye(4), MR_SPINE_LABELS, relabel=True)
    assert reading.measurements.structures == () and reading.level_naming["levels"] == []


def test_a_stray_piece_counts_in_the_volume_but_not_in_the_outline():
    """Each structure's outline comes from its largest 6-connected piece; its volume counts every voxel."""
    phantom = spine_mr(5, spacing=(4.4, 0.6, 0.6), noise=0.0, bias=0.0)
    labels, affine = phantom.labels.copy(), phantom.affine
    names = MR_SPINE_LABELS
    l3 = {v: k for k, v in names.items()}["L3"]
    clean = measure_spine(labels, affine, names)
    # a 2 x 2 x 2 block in the background far from L3, touching nothing
    corner = np.array([labels.shape[0] // 2, 2, 2])
    block = tuple(slice(c, c + 2) for c in corner)
    assert np.all(labels[block] == 0)
    labels[block] = l3
    with_stray = measure_spine(labels, affine, names)
    before = {s.name: {m.name: m.value for m in s.measurements} for s in clean.structures}
    after = {s.name: {m.name: m.value for m in s.measurements} for s in with_stray.structures}
    voxel = abs(np.linalg.det(affine[:3, :3]))
    assert after["L3"]["volume"] == pytest.approx(before["L3"]["volume"] + 8 * voxel)
    for name in ("anterior_height", "middle_height", "posterior_height"):
        assert after["L3"][name] == before["L3"][name]
