"""The pelvis of a lateral lumbar X-ray: femoral heads, hip axis, ilia, femora.

Geometry is in the sagittal frame of :mod:`spine_shape` (``(ap, si)`` mm,
patient facing left, i.e. anterior = smaller ``ap``). The hip axis is
placed from the S1 endplate with the pelvic tilt it must produce; the two
femoral heads sit symmetrically about it (their centres' midpoint *is* the
hip axis), slightly offset from each other and of slightly different size,
as the left and right heads are in a real lateral radiograph (they are not
superimposed exactly, and the one further from the detector is magnified).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.endplates import Endplate, Point
from spine_rt.phantoms.signed_distance import convex_hull


@dataclass(frozen=True)
class FemoralHead:
    """A femoral head seen from the side: a circle (``centre`` ``(ap, si)``, ``radius``)."""

    centre: Point
    radius: float

    def mapped(self, transform, length_scale: float) -> FemoralHead:
        return FemoralHead(transform(self.centre), self.radius * length_scale)


@dataclass(frozen=True, eq=False)
class PelvisShape:
    """``heads``: (head 1, head 2), head 1 being the more anterior one.
    ``hip_axis``: midpoint of their centres. ``bones``: convex outlines
    ``(N, 2)`` of unlabelled bone (ilia, femoral necks and shafts, ischia),
    each with a projected thickness (mm)."""

    heads: tuple[FemoralHead, FemoralHead]
    hip_axis: Point
    bones: tuple[tuple[np.ndarray, float], ...]


def hip_axis_for(s1: Endplate, pelvic_tilt_deg: float, pelvic_radius_mm: float) -> Point:
    """The hip axis ``pelvic_radius_mm`` from the S1 endplate midpoint, in the
    direction that makes the pelvic tilt ``pelvic_tilt_deg`` (left-facing)."""
    middle = s1.midpoint
    tilt = math.radians(pelvic_tilt_deg)
    return (middle[0] - pelvic_radius_mm * math.sin(tilt), middle[1] + pelvic_radius_mm * math.cos(tilt))


def sample_pelvis(rng: np.random.Generator, s1: Endplate, pelvic_tilt_deg: float) -> PelvisShape:
    """A random pelvis around the given S1 endplate (mm, left-facing)."""
    hip = hip_axis_for(s1, pelvic_tilt_deg, rng.uniform(95.0, 120.0))
    radius = rng.uniform(21.0, 25.5)
    magnified = radius * rng.uniform(1.02, 1.08)
    radii = (radius, magnified) if rng.random() < 0.5 else (magnified, radius)
    separation = rng.uniform(3.0, 12.0)
    direction = rng.uniform(0.0, 2.0 * math.pi)
    half = (0.5 * separation * math.cos(direction), 0.5 * separation * math.sin(direction))
    centres = ((hip[0] - half[0], hip[1] - half[1]), (hip[0] + half[0], hip[1] + half[1]))
    order = (0, 1) if centres[0][0] <= centres[1][0] else (1, 0)
    heads = tuple(FemoralHead(centres[i], radii[i]) for i in order)

    bones: list[tuple[np.ndarray, float]] = []
    crest = s1.midpoint[1] - rng.uniform(25.0, 45.0)
    sacral_back = max(s1.posterior[0], s1.anterior[0]) + 10.0
    neck_angle = math.radians(rng.uniform(5.0, 25.0))
    for head in heads:
        (c_ap, c_si), r = head.centre, head.radius
        shift_ap, shift_si = c_ap - hip[0], c_si - hip[1]
        ilium = [
            (sacral_back + 15.0, s1.midpoint[1] + 55.0),
            (sacral_back + 12.0, crest + 12.0),
            (c_ap + 25.0, crest - 6.0),
            (c_ap - 35.0, crest + 20.0),
            (c_ap - 48.0, c_si - 50.0),
            (c_ap - 30.0, c_si - r - 3.0),
            (c_ap + 25.0, c_si - r - 2.0),
        ]
        bones.append((convex_hull([(a + shift_ap, s + shift_si) for a, s in ilium]), 6.0))
        along = np.array([-math.sin(neck_angle), math.cos(neck_angle)])
        across = np.array([along[1], -along[0]])
        centre = np.array([c_ap, c_si])
        neck_end = centre + 1.7 * r * along
        neck = [centre + 0.55 * r * across, centre - 0.55 * r * across, neck_end - 0.6 * r * across, neck_end + 0.6 * r * across]
        bones.append((convex_hull(neck), 0.9 * r))
        down = np.array([-math.sin(math.radians(4.0)), math.cos(math.radians(4.0))])
        shaft = [neck_end + 0.75 * r * across, neck_end - 0.6 * r * across, neck_end - 0.6 * r * across + 260.0 * down,
                 neck_end + 0.6 * r * across + 260.0 * down]  # fmt: skip
        bones.append((convex_hull(shaft), 1.1 * r))
        trochanter = [neck_end + 0.4 * r * across - 0.5 * r * along, neck_end + 1.2 * r * across - 0.3 * r * along,
                      neck_end + 1.1 * r * across + 0.8 * r * along, neck_end + 0.3 * r * across + 0.9 * r * along]  # fmt: skip
        bones.append((convex_hull(trochanter), 1.0 * r))
        ischium = [(c_ap + 0.6 * r, c_si + 0.6 * r), (c_ap + 1.6 * r, c_si + 0.4 * r), (c_ap + 2.0 * r, c_si + 2.6 * r),
                   (c_ap + 1.0 * r, c_si + 2.8 * r)]  # fmt: skip
        bones.append((convex_hull(ischium), 10.0))
    return PelvisShape(heads, hip, tuple(bones))  # type: ignore[arg-type]
