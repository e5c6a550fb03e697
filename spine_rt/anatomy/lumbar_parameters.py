"""Lumbar and pelvic parameters of a lateral X-ray, from endplates and the hip axis.

Inputs are :class:`~spine_rt.anatomy.endplates.Endplate` and points in image
coordinates ``(column, row)`` (pixels, or mm in the sagittal frame
``(ap, si)``): the row grows downwards (superior -> inferior). The patient may face either way; which side is
anterior is read from each endplate's own anterior/posterior ends. All
angles are in degrees.

Definitions (the standard ones of SEEDS.md, with signs fixed here):

* **tilt** of an endplate: its angle to the horizontal, positive when its
  anterior end is lower than its posterior end (the S1 endplate of a
  standing adult has a positive tilt).
* **angle between two endplates** (upper one ``a``, lower one ``b``):
  ``tilt(b) - tilt(a)``; lordosis positive.
* **SS** (sacral slope) = tilt of the S1 endplate.
* **PT** (pelvic tilt): angle between the vertical and the line from the hip
  axis (midpoint of the two femoral head centres) to the S1 endplate
  midpoint; positive when the hip axis lies anterior of that midpoint.
* **PI** (pelvic incidence): angle between the S1 endplate's perpendicular
  at its midpoint (pointing into the pelvis) and the line from that midpoint
  to the hip axis; positive when the hip axis lies anterior of the
  perpendicular. Geometrically PI = PT + SS.
* **LL** (lumbar lordosis) = angle between the L1 upper endplate and the S1
  endplate. **L4S1** = angle between the L4 upper endplate and the S1
  endplate.
* **L1..L5** (vertebral angles) = angle between the upper and the lower
  endplate of that vertebra (wedging; lordosis positive).
* **L1L2, L2L3, L3L4, L4L5** (disc angles) = angle between the lower
  endplate of the upper vertebra and the upper endplate of the lower one;
  **L5S1** = L5 lower endplate vs S1 endplate. The five vertebral and five
  disc angles add up to LL exactly.
* **LDI** (lordosis distribution index, %) = 100 * L4S1 / LL.
* **RLL** (relative lumbar lordosis) = LL - (0.62 * PI + 29).
* **PI-LL** = PI - LL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from spine_rt.anatomy.endplates import Endplate, Point, angle_between_endplates_deg, endplate_tilt_deg
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES


def pelvic_tilt_deg(s1: Endplate, hip_axis: Point) -> float:
    """PT: vertical vs the line hip axis -> S1 midpoint (degrees), positive
    when the hip axis is anterior of the S1 midpoint."""
    posterior_sign = math.copysign(1.0, s1.posterior[0] - s1.anterior[0])
    middle = s1.midpoint
    return math.degrees(math.atan2(posterior_sign * (middle[0] - hip_axis[0]), hip_axis[1] - middle[1]))


def pelvic_incidence_deg(s1: Endplate, hip_axis: Point) -> float:
    """PI: the S1 endplate's perpendicular at its midpoint vs the line to the
    hip axis (degrees), computed from the perpendicular, not as PT + SS."""
    posterior_sign = math.copysign(1.0, s1.posterior[0] - s1.anterior[0])
    middle = s1.midpoint

    def canonical(point: Point) -> tuple[float, float]:
        # x towards posterior, y upwards, origin at the S1 midpoint
        return posterior_sign * (point[0] - middle[0]), -(point[1] - middle[1])

    anterior, posterior = canonical(s1.anterior), canonical(s1.posterior)
    along = (posterior[0] - anterior[0], posterior[1] - anterior[1])
    perpendicular = (-along[1], along[0])
    if perpendicular[1] > 0:  # make it point down, into the pelvis
        perpendicular = (along[1], -along[0])
    hip = canonical(hip_axis)
    cross = perpendicular[0] * hip[1] - perpendicular[1] * hip[0]
    dot = perpendicular[0] * hip[0] + perpendicular[1] * hip[1]
    return -math.degrees(math.atan2(cross, dot))


@dataclass(frozen=True)
class LumbarParameters:
    """The 18 lumbar/pelvic inspection values (degrees; ``ldi`` in %)."""

    pi: float
    ll: float
    pi_minus_ll: float
    l4s1: float
    ldi: float
    rll: float
    ss: float
    pt: float
    l1: float
    l2: float
    l3: float
    l4: float
    l5: float
    l1l2: float
    l2l3: float
    l3l4: float
    l4l5: float
    l5s1: float

    def as_dict(self) -> dict[str, float]:
        """``{name: value}`` in :data:`INSPECTION_VALUE_NAMES` (``"PI"``, ``"LL"``, ...)."""
        values = (
            self.pi, self.ll, self.pi_minus_ll, self.l4s1, self.ldi, self.rll, self.ss, self.pt,
            self.l1, self.l2, self.l3, self.l4, self.l5, self.l1l2, self.l2l3, self.l3l4, self.l4l5, self.l5s1,
        )  # fmt: skip
        return dict(zip(INSPECTION_VALUE_NAMES, values))


def lumbar_parameters(
    vertebra_endplates: Sequence[tuple[Endplate, Endplate]], s1: Endplate, hip_axis: Point
) -> LumbarParameters:
    """All 18 values from the (upper, lower) endplates of L1..L5 (top to
    bottom), the S1 endplate and the hip axis (midpoint of the femoral head
    centres)."""
    if len(vertebra_endplates) != 5:
        raise ValueError(f"need the endplates of L1..L5, got {len(vertebra_endplates)} vertebrae")
    upper = [pair[0] for pair in vertebra_endplates]
    lower = [pair[1] for pair in vertebra_endplates]
    wedges = [angle_between_endplates_deg(u, b) for u, b in zip(upper, lower)]
    discs = [angle_between_endplates_deg(lower[i], upper[i + 1]) for i in range(4)]
    discs.append(angle_between_endplates_deg(lower[4], s1))
    ll = angle_between_endplates_deg(upper[0], s1)
    l4s1 = angle_between_endplates_deg(upper[3], s1)
    pi = pelvic_incidence_deg(s1, hip_axis)
    return LumbarParameters(
        pi=pi,
        ll=ll,
        pi_minus_ll=pi - ll,
        l4s1=l4s1,
        ldi=100.0 * l4s1 / ll if ll != 0 else math.nan,
        rll=ll - (0.62 * pi + 29.0),
        ss=endplate_tilt_deg(s1),
        pt=pelvic_tilt_deg(s1, hip_axis),
        l1=wedges[0],
        l2=wedges[1],
        l3=wedges[2],
        l4=wedges[3],
        l5=wedges[4],
        l1l2=discs[0],
        l2l3=discs[1],
        l3l4=discs[2],
        l4l5=discs[3],
        l5s1=discs[4],
    )
