"""A 3-D solid described by a sagittal outline and a left-right half-width.

A :class:`SagittalSolid` is a convex outline in the sagittal frame
(``(ap, si)`` mm, see :mod:`spine_shape`) with rounded corners, extruded
left-right around ``lateral_offset_mm`` (positive towards the patient's
right). Its left-right half-width at a sagittal point is ``half_width_mm``,
shaped by

* an optional elliptic profile along its own anterior -> posterior axis
  (a vertebral body is widest in its middle, narrower in front and behind),
* a rounding of ``edge_radius_mm`` near the sagittal outline, so that the
  solid's surface is smooth left-right too (0: none, for solids made of
  pieces that share edges, like the spinal canal).

The MR renderer intersects this half-width with each slice's slab (partial
volume through thick slices, exactly); the X-ray renderer uses twice the
half-width as the path length of a lateral projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.endplates import Point
from spine_rt.phantoms.signed_distance import rounded_polygon_distance


@dataclass(frozen=True, eq=False)
class SagittalSolid:
    """One solid: ``kind`` (``"body"``, ``"disc"``, ``"sacrum"``, ``"canal"``,
    ``"pedicle"``, ...) and ``name`` (the level, e.g. ``"L3"`` or ``"L3/L4"``).

    ``axis`` holds an anterior and a posterior reference point ``(ap, si)``
    (mm) that define the anterior -> posterior fraction used by
    ``width_profile = (centre, radius)`` (fractions of the axis length) and by
    appearance models. ``core_line`` (two ``(ap, si)`` points) and
    ``core_radius_mm`` describe an inner core, the spinal cord inside the
    dural sac: pieces of the canal share the ends of their core lines, so
    the cord runs on without steps.
    """

    kind: str
    name: str
    outline: np.ndarray
    corner_radius_mm: float
    half_width_mm: float
    axis: tuple[Point, Point]
    lateral_offset_mm: float = 0.0
    edge_radius_mm: float = 2.0
    width_profile: tuple[float, float] | None = None
    core_line: tuple[Point, Point] | None = None
    core_radius_mm: float = 0.0

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """``(ap_min, ap_max, si_min, si_max)`` of the outline (mm), grown by ``margin``."""
        ap_min, si_min = self.outline.min(axis=0)
        ap_max, si_max = self.outline.max(axis=0)
        return (float(ap_min) - margin, float(ap_max) + margin, float(si_min) - margin, float(si_max) + margin)

    def signed_distance(self, ap: np.ndarray, si: np.ndarray) -> np.ndarray:
        """Signed distance (mm, negative inside) to the rounded sagittal outline."""
        return rounded_polygon_distance(ap, si, self.outline, self.corner_radius_mm)

    def axis_fraction(self, ap: np.ndarray, si: np.ndarray) -> np.ndarray:
        """Position along the anterior -> posterior axis: 0 at its anterior
        point, 1 at its posterior point."""
        (front_ap, front_si), (back_ap, back_si) = self.axis
        step_ap, step_si = back_ap - front_ap, back_si - front_si
        inverse_sq = 1.0 / max(step_ap * step_ap + step_si * step_si, 1e-12)
        return ((ap - front_ap) * step_ap + (si - front_si) * step_si) * inverse_sq

    def core_offset(self, ap: np.ndarray, si: np.ndarray) -> np.ndarray:
        """Signed distance (mm) from the core line, positive on its posterior
        side (towards larger ``ap`` for a near-vertical line)."""
        if self.core_line is None:
            raise ValueError(f"{self.kind} {self.name} has no core line")
        (top_ap, top_si), (bottom_ap, bottom_si) = self.core_line
        step_ap, step_si = bottom_ap - top_ap, bottom_si - top_si
        inverse = 1.0 / max(float(np.hypot(step_ap, step_si)), 1e-12)
        return ((ap - top_ap) * step_si - (si - top_si) * step_ap) * inverse

    def half_width(self, distance: np.ndarray, fraction: np.ndarray, soft_edge_mm: float) -> np.ndarray:
        """Left-right half-width (mm) at each sagittal point.

        ``distance`` is :meth:`signed_distance`, ``fraction`` is
        :meth:`axis_fraction`; ``soft_edge_mm`` (about half a pixel) keeps
        points on the outline itself from getting zero width.
        """
        if self.edge_radius_mm > 0:
            rounding = np.sqrt(np.clip((soft_edge_mm - distance) * (1.0 / self.edge_radius_mm), 0.0, 1.0))
            width = rounding * self.half_width_mm
        else:
            width = np.full(np.shape(distance), self.half_width_mm, dtype=np.result_type(distance, np.float32))
        if self.width_profile is not None:
            centre, radius = self.width_profile
            relative = (fraction - centre) * (1.0 / radius)
            width = width * np.sqrt(np.clip(1.0 - relative * relative, 0.0, 1.0))
        return width
