"""Endplates and walls of a vertebral body or a disc in its mid-sagittal plane, and its heights.

:func:`fit_quadrilateral` fits four lines to a structure's outline in a
:class:`~spine_rt.measure.sagittal_section.SagittalSection`, in the
structure's own frame (never the image axes):

1. the frame starts from the spine's direction at the structure (from its
   labelled neighbours' centroids) or, alone, from the principal axes of the
   section (the long axis is anterior-posterior for bodies and discs);
2. rays along the frame's cranio-caudal axis, from points at 10-30 % and
   70-90 % of the depth (the rims, clear of rounded corners and central
   concavity), find the upper and lower endplate; a straight line is fitted
   to each (total least squares, outliers beyond 3 MAD dropped), then fitted
   again with the points between the rims that lie within one voxel of it
   (a flat endplate is used whole, a concave one by its rims);
3. the body's axis becomes the bisector of the two endplates; rays across
   it from points at 15-35 % and 65-85 % of the height find the anterior
   and posterior walls; each wall is the line through the medians of its
   lower and upper points (a line fitted to a disc's bulging wall would be
   noise);
4. steps 2-3 run once more in the refined frame.

The corners are where the endplate lines meet the wall lines. Heights (mm):
anterior = upper-anterior to lower-anterior corner, posterior = upper-
posterior to lower-posterior corner (Genant's six-point morphometry), middle
= the structure's own extent along the axis through the centre of the four
corners (the mean of five chords within +-5 % of the depth), so a biconcave
body has a short middle height. Endplate tilt (degrees): the angle of the
endplate to the scanner's axial plane in the sagittal plane, positive when
its anterior end is lower; the wedge angle is lower tilt - upper tilt
(positive when the anterior side is the taller, lordotic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spine_rt.measure.sagittal_section import SagittalSection

#: depth fractions (posterior 0 -> anterior 1) where the endplates' rims are sampled
RIM_FRACTIONS = np.concatenate([np.linspace(0.10, 0.30, 9), np.linspace(0.70, 0.90, 9)])
#: depth fractions between the rims: used where they lie within a voxel of the rims' line (a flat endplate)
CENTRAL_FRACTIONS = np.linspace(0.32, 0.68, 13)
#: height fractions (lower 0 -> upper 1) where the walls are sampled: a lower and an upper group
WALL_FRACTIONS = np.concatenate([np.linspace(0.15, 0.35, 7), np.linspace(0.65, 0.85, 7)])
#: depth fractions of the chords averaged for the middle height
MIDDLE_FRACTIONS = np.linspace(-0.05, 0.05, 5)
#: largest angle (deg) between a fitted axis and the spine's direction at the structure
MAX_AXIS_TURN_DEG = 40.0
#: fewest boundary points for a line
MIN_POINTS = 5
#: fewest in-plane grid points for a section worth fitting
MIN_PIXELS = 30


class FitFailure(ValueError):
    """A structure whose outline cannot be fitted; the message is the reason (for the report)."""


@dataclass(frozen=True)
class Line:
    """A line through ``point`` along unit ``direction`` (in-plane mm)."""

    point: np.ndarray
    direction: np.ndarray

    def meet(self, other: Line) -> np.ndarray:
        matrix = np.column_stack([self.direction, -other.direction])
        if abs(np.linalg.det(matrix)) < 1e-9:
            raise FitFailure("parallel lines do not meet")
        along = np.linalg.solve(matrix, other.point - self.point)
        return self.point + along[0] * self.direction


@dataclass(frozen=True)
class Quadrilateral:
    """A fitted structure in its mid-sagittal plane (in-plane ``(a, s)`` mm; see the module docstring).

    Attributes:
        upper_anterior, upper_posterior, lower_anterior, lower_posterior: ``(2,)`` corners.
        middle_height_mm: the structure's own extent along its axis at its centre.
        axis: ``(2,)`` unit cranio-caudal axis (pointing superior); ``depth_axis`` anterior.
    """

    upper_anterior: np.ndarray
    upper_posterior: np.ndarray
    lower_anterior: np.ndarray
    lower_posterior: np.ndarray
    middle_height_mm: float
    axis: np.ndarray
    depth_axis: np.ndarray

    @property
    def anterior_height_mm(self) -> float:
        return float(np.linalg.norm(self.upper_anterior - self.lower_anterior))

    @property
    def posterior_height_mm(self) -> float:
        return float(np.linalg.norm(self.upper_posterior - self.lower_posterior))

    @property
    def centre(self) -> np.ndarray:
        return (self.upper_anterior + self.upper_posterior + self.lower_anterior + self.lower_posterior) / 4.0

    @property
    def depth_mm(self) -> float:
        front = 0.5 * (self.upper_anterior + self.lower_anterior)
        back = 0.5 * (self.upper_posterior + self.lower_posterior)
        return float(np.linalg.norm(front - back))

    @property
    def upper_tilt_deg(self) -> float:
        return tilt_deg(self.upper_anterior - self.upper_posterior)

    @property
    def lower_tilt_deg(self) -> float:
        return tilt_deg(self.lower_anterior - self.lower_posterior)

    @property
    def wedge_angle_deg(self) -> float:
        return self.lower_tilt_deg - self.upper_tilt_deg

    def endplate_points(self, upper: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(anterior, posterior)`` corners of the upper or lower endplate."""
        return (self.upper_anterior, self.upper_posterior) if upper else (self.lower_anterior, self.lower_posterior)


def tilt_deg(posterior_to_anterior: np.ndarray) -> float:
    """Angle (degrees) of an endplate vector ``(a, s)`` to the axial plane; positive when its anterior end is lower."""
    return math.degrees(math.atan2(-float(posterior_to_anterior[1]), float(posterior_to_anterior[0])))


def fit_line(points: np.ndarray, orient: np.ndarray) -> Line:
    """Total least squares line through ``points`` ``(N, 2)``, direction oriented along ``orient``; outliers
    (beyond 3 MAD of the residuals, and beyond 0.1 mm) are dropped once.

    Raises:
        FitFailure: fewer than :data:`MIN_POINTS` points.
    """
    points = points[np.all(np.isfinite(points), axis=1)]
    for _ in range(2):
        if len(points) < MIN_POINTS:
            raise FitFailure(f"only {len(points)} boundary points for a line (need {MIN_POINTS})")
        centre = points.mean(axis=0)
        _, _, vectors = np.linalg.svd(points - centre, full_matrices=False)
        direction = vectors[0]
        normal = np.array([-direction[1], direction[0]])
        residual = np.abs((points - centre) @ normal)
        spread = np.median(residual)
        keep = residual <= max(3.0 * 1.4826 * spread, 0.1) + spread
        if keep.all():
            break
        points = points[keep]
    if direction @ orient < 0:
        direction = -direction
    return Line(centre, direction)


def _perpendicular(direction: np.ndarray) -> np.ndarray:
    """``direction`` turned by +90 degrees (anterior -> superior)."""
    return np.array([-direction[1], direction[0]])


def _edge_points(section: SagittalSection, origins: np.ndarray, direction: np.ndarray, reach: float) -> np.ndarray:
    distances = section.distance_to_boundary(origins, direction, reach)
    return origins + distances[:, None] * direction


def _extent(section: SagittalSection, centre: np.ndarray, direction: np.ndarray, reach: float) -> tuple[float, float]:
    forward = section.distance_to_boundary(centre[None], direction, reach)[0]
    backward = section.distance_to_boundary(centre[None], -direction, reach)[0]
    if not (np.isfinite(forward) and np.isfinite(backward)):
        raise FitFailure("the centre of the section lies outside the structure")
    return float(forward), float(backward)


def _wall(points: np.ndarray, axis: np.ndarray) -> Line:
    """A wall through the median of its lower and of its upper points (``points`` from low to high).

    Two medians, not a line fit: a disc's bulging wall is a V, whose fitted
    direction would be noise; the line through its two halves keeps the
    direction of the corner-to-corner chord.
    """
    half = len(points) // 2
    lower, upper = points[:half], points[-half:]
    lower = lower[np.all(np.isfinite(lower), axis=1)]
    upper = upper[np.all(np.isfinite(upper), axis=1)]
    if len(lower) < 2 or len(upper) < 2:
        raise FitFailure("too few wall points")
    low, high = np.median(lower, axis=0), np.median(upper, axis=0)
    direction = high - low
    if np.linalg.norm(direction) < 1e-6:
        return Line(low, axis)
    direction /= np.linalg.norm(direction)
    return Line(0.5 * (low + high), direction if direction @ axis >= 0 else -direction)


def _fit_endplate(section: SagittalSection, centre: np.ndarray, depth_axis: np.ndarray, outwards: np.ndarray,
                  front: float, back: float, reach: float) -> Line:
    """The endplate met by rays along ``outwards`` from the line through ``centre`` along ``depth_axis``."""
    def edge(fractions: np.ndarray) -> np.ndarray:
        positions = -back + fractions * (front + back)
        return _edge_points(section, centre + positions[:, None] * depth_axis, outwards, reach)

    rims = edge(RIM_FRACTIONS)
    line = fit_line(rims, depth_axis)
    between = edge(CENTRAL_FRACTIONS)
    normal = _perpendicular(line.direction)
    flat = np.abs((between - line.point) @ normal) <= section.voxel_mm
    if not flat.any():
        return line
    return fit_line(np.concatenate([rims, between[flat]]), depth_axis)


def fit_quadrilateral(section: SagittalSection, axis_hint: np.ndarray | None = None) -> Quadrilateral:
    """Fit endplates and walls (see the module docstring).

    Args:
        section: the structure in its mid-sagittal plane.
        axis_hint: ``(2,)`` in-plane direction of the spine at the structure
            (e.g. from its neighbours' centroids): the starting axis instead of
            the section's principal axes, and a check: a fitted axis more than
            :data:`MAX_AXIS_TURN_DEG` from it is a failure (not a body's outline).

    Raises:
        FitFailure: too small a section, too few boundary points, an axis across the spine.
    """
    pixels, step = section.pixels()
    if len(pixels) < MIN_PIXELS:
        raise FitFailure(f"too small in its mid-sagittal plane ({len(pixels) * step * step:.0f} mm2)")
    centre = pixels.mean(axis=0)
    if axis_hint is not None:
        hint = np.asarray(axis_hint, dtype=np.float64) / np.linalg.norm(axis_hint)
        hint = hint if hint[1] >= 0 else -hint
        depth_axis = np.array([hint[1], -hint[0]])
    else:
        _, _, vectors = np.linalg.svd(pixels - centre, full_matrices=False)
        depth_axis = vectors[0] if vectors[0][0] >= 0 else -vectors[0]
    axis = _perpendicular(depth_axis)
    low, high = section.bounds
    reach = float(np.linalg.norm(high - low)) + 1.0

    for _ in range(2):
        front, back = _extent(section, centre, depth_axis, reach)
        upper = _fit_endplate(section, centre, depth_axis, axis, front, back, reach)
        lower = _fit_endplate(section, centre, depth_axis, -axis, front, back, reach)
        depth_axis = upper.direction + lower.direction
        depth_axis /= np.linalg.norm(depth_axis)
        axis = _perpendicular(depth_axis)
        through = Line(centre, axis)
        top, bottom = through.meet(upper), through.meet(lower)
        origins = bottom + WALL_FRACTIONS[:, None] * (top - bottom)
        anterior = _wall(_edge_points(section, origins, depth_axis, reach), axis)
        posterior = _wall(_edge_points(section, origins, -depth_axis, reach), axis)
        corners = [upper.meet(anterior), upper.meet(posterior), lower.meet(anterior), lower.meet(posterior)]
        centre = np.mean(corners, axis=0)

    if axis_hint is not None:
        turn = math.degrees(math.acos(min(1.0, abs(float(axis @ hint)))))
        if turn > MAX_AXIS_TURN_DEG:
            raise FitFailure(f"its fitted axis lies {turn:.0f} degrees from the spine's direction")
    depth = float(np.linalg.norm(0.5 * (corners[0] + corners[2]) - 0.5 * (corners[1] + corners[3])))
    chords = []
    for fraction in MIDDLE_FRACTIONS:
        point = centre + fraction * depth * depth_axis
        chords.append(sum(_extent(section, point, axis, reach)))
    return Quadrilateral(corners[0], corners[1], corners[2], corners[3], float(np.mean(chords)), axis, depth_axis)
