"""The fitting pieces: circles, minimum-area rectangles, straight edges of pixel regions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.measure.circle_fit import fit_circle
from spine_rt.measure.edge_line import edge_ends, fit_edge_line
from spine_rt.measure.mask_components import class_components, outer_boundary
from spine_rt.measure.rectangle_frame import minimum_area_rectangle


def _rotated_box_pixels(centre, half, angle_deg, shape=(200, 200)) -> np.ndarray:
    """``(N, 2)`` pixel centres ``(column, row)`` inside a rotated rectangle."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    a = math.radians(angle_deg)
    u = (cols - centre[0]) * math.cos(a) + (rows - centre[1]) * math.sin(a)
    v = -(cols - centre[0]) * math.sin(a) + (rows - centre[1]) * math.cos(a)
    inside = (np.abs(u) <= half[0]) & (np.abs(v) <= half[1])
    return np.column_stack([cols[inside], rows[inside]]).astype(float)


def test_circle_through_exact_points_and_a_short_noisy_arc():
    angles = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    points = np.column_stack([10 + 7 * np.cos(angles), -3 + 7 * np.sin(angles)])
    circle = fit_circle(points)
    assert circle.centre == pytest.approx((10, -3), abs=1e-9) and circle.radius == pytest.approx(7)
    rng = np.random.default_rng(1)
    arc = np.linspace(0.2, 1.6, 40)  # a quarter of the circle, +-0.3 px noise
    noisy = np.column_stack([50 + 30 * np.cos(arc), 60 + 30 * np.sin(arc)]) + rng.uniform(-0.3, 0.3, (40, 2))
    fitted = fit_circle(noisy)
    assert math.dist(fitted.centre, (50, 60)) < 1.0 and abs(fitted.radius - 30) < 1.0
    with pytest.raises(ValueError):
        fit_circle(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(ValueError):
        fit_circle(np.zeros((2, 2)))


@pytest.mark.parametrize("angle", [0.0, 17.0, -35.0, 60.0])
def test_minimum_area_rectangle_finds_the_box(angle):
    pixels = _rotated_box_pixels((100, 90), (40, 15), angle)
    frame = minimum_area_rectangle(pixels)
    long_axis = frame.axes[int(np.argmax(frame.half_extent))]
    found = math.degrees(math.atan2(long_axis[1], long_axis[0])) % 180.0
    assert min(abs(found - angle % 180.0), 180.0 - abs(found - angle % 180.0)) < 1.5
    assert sorted(frame.half_extent) == pytest.approx([15, 40], abs=1.0)
    assert frame.centre == pytest.approx((100, 90), abs=1.0)
    direction = np.array([math.cos(math.radians(angle + 90)), math.sin(math.radians(angle + 90))])
    assert frame.axis_closest_to(direction) @ direction > 0.99


@pytest.mark.parametrize("angle", [0.0, 8.0, -25.0])
def test_edge_line_of_a_box_side_from_a_rough_normal(angle):
    pixels = _rotated_box_pixels((100, 100), (45, 20), angle)
    a = math.radians(angle)
    true_up = np.array([math.sin(a), -math.cos(a)])  # outward normal of the top side
    rough = true_up + np.array([0.4, 0.0])  # about 20 degrees off
    line = fit_edge_line(pixels, rough)
    found = math.degrees(math.atan2(line.direction[1], line.direction[0]))
    assert min(abs(found - angle), abs(abs(found - angle) - 180)) < 0.6
    assert line.normal @ true_up > 0.999
    first, second = edge_ends(pixels, line, band_px=2.0)
    assert math.dist(first, second) == pytest.approx(90, abs=2.5)
    with pytest.raises(ValueError):
        fit_edge_line(np.array([[0.0, 0.0]]), np.array([0.0, -1.0]))


def test_components_sorted_top_down_specks_dropped_and_hidden_boundaries_left_out():
    labels = np.zeros((40, 40), np.uint8)
    labels[25:35, 5:15] = 1
    labels[2:12, 5:15] = 1
    labels[20, 30] = 1  # a speck
    components, dropped = class_components(labels, 1)
    assert [c.centroid[1] for c in components] == [6.5, 29.5] and dropped == 1
    labels[2:12, 15:20] = 4  # another class touching the right side
    labels[:, 0] = 0
    top = components[0]
    everything = outer_boundary(labels, top)
    partial = outer_boundary(labels, top, foreign=(4,))
    assert len(partial) < len(everything)
    assert not np.any((partial[:, 0] == 14) & (partial[:, 1] > 2) & (partial[:, 1] < 11))  # hidden by class 4
    edge = np.zeros((10, 10), np.uint8)
    edge[:4, :4] = 3  # touches the image border
    boundary = outer_boundary(edge, class_components(edge, 3)[0][0])
    assert set(map(tuple, boundary)) == {(3.0, r) for r in range(4)} | {(c, 3.0) for c in range(4)}
