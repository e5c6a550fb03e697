"""Building blocks of the phantoms: angle definitions, spine stacking, distance fields, partial volume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.anatomy.endplates import Endplate, angle_between_endplates_deg, endplate_tilt_deg
from spine_rt.anatomy.lumbar_parameters import pelvic_incidence_deg, pelvic_tilt_deg
from spine_rt.phantoms.partial_volume import SliceStack, footprint
from spine_rt.phantoms.pelvis_shape import hip_axis_for
from spine_rt.phantoms.sagittal_solid import SagittalSolid
from spine_rt.phantoms.signed_distance import convex_polygon_distance, inset_convex_polygon, rounded_polygon_distance
from spine_rt.phantoms.spine_shape import sample_spine_shape, stack_above


def _endplate(tilt_deg: float, length: float = 40.0, facing_left: bool = True, at=(100.0, 100.0)) -> Endplate:
    """An endplate whose anterior end is lower by ``tilt_deg`` (row grows downwards)."""
    direction = -1.0 if facing_left else 1.0
    tilt = math.radians(tilt_deg)
    posterior = (at[0] - direction * 0.5 * length * math.cos(tilt), at[1] - 0.5 * length * math.sin(tilt))
    anterior = (at[0] + direction * 0.5 * length * math.cos(tilt), at[1] + 0.5 * length * math.sin(tilt))
    return Endplate(anterior, posterior)


# --- angle definitions -----------------------------------------------------------


def test_tilt_sign_and_facing():
    assert endplate_tilt_deg(Endplate((0.0, 10.0), (40.0, 10.0))) == 0.0
    assert endplate_tilt_deg(Endplate((0.0, 20.0), (40.0, 0.0))) > 0  # anterior end lower
    for tilt in (-30.0, 0.0, 12.5, 45.0):
        assert abs(endplate_tilt_deg(_endplate(tilt)) - tilt) < 1e-12
        assert abs(endplate_tilt_deg(_endplate(tilt, facing_left=False)) - tilt) < 1e-12


def test_angle_between_endplates_is_lordosis_positive():
    upper, lower = _endplate(-5.0), _endplate(10.0)
    assert abs(angle_between_endplates_deg(upper, lower) - 15.0) < 1e-12
    assert abs(angle_between_endplates_deg(lower, upper) + 15.0) < 1e-12


@pytest.mark.parametrize("facing_left", [True, False])
@pytest.mark.parametrize(("slope", "tilt"), [(40.0, 12.0), (25.0, 0.0), (50.0, -8.0), (30.0, 28.0)])
def test_pelvic_parameters_of_a_constructed_pelvis(slope, tilt, facing_left):
    s1 = _endplate(slope, facing_left=facing_left)
    middle = s1.midpoint
    direction = -1.0 if facing_left else 1.0  # which way is anterior in columns
    radius = 110.0
    turn = math.radians(tilt)
    hip = (middle[0] + direction * radius * math.sin(turn), middle[1] + radius * math.cos(turn))
    assert abs(endplate_tilt_deg(s1) - slope) < 1e-12
    assert abs(pelvic_tilt_deg(s1, hip) - tilt) < 1e-9
    assert abs(pelvic_incidence_deg(s1, hip) - (slope + tilt)) < 1e-9


def test_hip_axis_for_gives_the_requested_pelvic_tilt():
    s1 = _endplate(38.0)
    for tilt in (5.0, 17.0, 30.0):
        assert abs(pelvic_tilt_deg(s1, hip_axis_for(s1, tilt, 100.0)) - tilt) < 1e-9


# --- spine stacking --------------------------------------------------------------


def test_stack_above_turns_by_the_wedge_and_keeps_the_posterior_height():
    lower = _endplate(30.0, length=38.0)
    top = stack_above(lower, posterior_height=7.0, wedge_deg=12.0, top_length=35.0)
    assert abs(endplate_tilt_deg(top) - 18.0) < 1e-9
    assert abs(math.dist(top.posterior, lower.posterior) - 7.0) < 1e-9
    assert abs(top.length - 35.0) < 1e-9
    assert top.posterior[1] < lower.posterior[1]  # above means a smaller row


def test_sampled_spine_has_exact_slope_and_lordosis_and_shared_endplates():
    rng = np.random.default_rng(0)
    spine = sample_spine_shape(rng, top_level="T9", sacral_slope_deg=41.0, lordosis_deg=57.0)
    assert [body.name for body in spine.vertebrae] == ["T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    assert [disc.name for disc in spine.discs][-2:] == ["L4/L5", "L5/S1"]
    assert abs(endplate_tilt_deg(spine.s1_endplate) - 41.0) < 1e-9
    assert abs(angle_between_endplates_deg(spine.vertebra("L1").upper, spine.s1_endplate) - 57.0) < 1e-9
    for body, disc in zip(spine.vertebrae, spine.discs):
        assert disc.upper == body.lower
        assert math.dist(disc.upper.posterior, disc.lower.posterior) > 2.0  # discs keep a posterior height
    assert spine.discs[-1].lower == spine.s1_endplate
    for above, below in zip(spine.sacrum, spine.sacrum[1:]):
        assert above.lower == below.upper


# --- distance fields and partial volume -------------------------------------------


def test_convex_polygon_distance_of_a_square():
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    ap = np.array([[5.0, 12.0, 13.0, 2.0]])
    si = np.array([[5.0, 5.0, 14.0, 1.0]])
    np.testing.assert_allclose(convex_polygon_distance(ap, si, square), [[-5.0, 2.0, 5.0, -1.0]])
    np.testing.assert_allclose(convex_polygon_distance(ap, si, square[::-1]), [[-5.0, 2.0, 5.0, -1.0]])


def test_rounded_polygon_keeps_edges_and_rounds_corners():
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    np.testing.assert_allclose(inset_convex_polygon(square, 2.0), [(2, 2), (8, 2), (8, 8), (2, 8)])
    edge = rounded_polygon_distance(np.array([[5.0]]), np.array([[0.0]]), square, 2.0)
    corner = rounded_polygon_distance(np.array([[0.0]]), np.array([[0.0]]), square, 2.0)
    assert abs(float(edge[0, 0])) < 1e-6
    assert abs(float(corner[0, 0]) - (math.sqrt(8.0) - 2.0)) < 1e-6


def test_slab_partial_volume_is_the_exact_overlap():
    """A box 10 mm wide (left-right) on 4 mm slices: the slab fractions are exact."""
    box = SagittalSolid(
        kind="body",
        name="test",
        outline=np.array([(10.0, 10.0), (30.0, 10.0), (30.0, 30.0), (10.0, 30.0)]),
        corner_radius_mm=0.0,
        half_width_mm=5.0,
        axis=((10.0, 20.0), (30.0, 20.0)),
        edge_radius_mm=0.0,
    )
    stack = SliceStack(shape=(6, 50, 50), spacing=(4.0, 1.0, 1.0), midline_mm=10.0)  # slices at 0, 4, ..., 20 mm
    found = footprint(stack, box)
    assert found is not None
    slices = range(stack.shape[0])[found.window[0]]
    centre_pixel = found.occupancy[:, 20 - found.window[1].start, 20 - found.window[2].start]
    expected = {0: 0.0, 1: 0.25, 2: 1.0, 3: 1.0, 4: 0.25, 5: 0.0}  # box spans 5..15 mm
    for index, value in zip(slices, centre_pixel):
        assert abs(float(value) - expected[index]) < 1e-6
    edge_pixel = found.occupancy[:, 10 - found.window[1].start, 20 - found.window[2].start]
    assert abs(float(edge_pixel.max()) - 0.5) < 1e-6  # the outline passes through the pixel centre
