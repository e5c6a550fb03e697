"""Endplates as line segments, their tilt and the angle between two.

Points are ``(column, row)`` in image coordinates (pixels, or mm in the
sagittal frame ``(ap, si)``: anterior -> posterior, superior -> inferior):
the row grows downwards. Which side is anterior is read from each
endplate's own anterior/posterior ends, so the patient may face either way.
Angles are in degrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

#: A 2-D point ``(column, row)`` (pixels) or ``(ap, si)`` (mm).
Point = tuple[float, float]


@dataclass(frozen=True)
class Endplate:
    """An endplate as a line segment from its anterior to its posterior end (two :data:`Point`)."""

    anterior: Point
    posterior: Point

    @property
    def midpoint(self) -> Point:
        return (
            0.5 * (self.anterior[0] + self.posterior[0]),
            0.5 * (self.anterior[1] + self.posterior[1]),
        )

    @property
    def length(self) -> float:
        return math.dist(self.anterior, self.posterior)

    def mapped(self, transform: Callable[[Point], Point]) -> Endplate:
        return Endplate(transform(self.anterior), transform(self.posterior))


def endplate_tilt_deg(endplate: Endplate) -> float:
    """Angle of the endplate to the horizontal (degrees); positive when the
    anterior end is lower (has the larger row)."""
    anterior, posterior = endplate.anterior, endplate.posterior
    return math.degrees(math.atan2(anterior[1] - posterior[1], abs(posterior[0] - anterior[0])))


def angle_between_endplates_deg(upper: Endplate, lower: Endplate) -> float:
    """``tilt(lower) - tilt(upper)`` in degrees: lordosis positive."""
    return endplate_tilt_deg(lower) - endplate_tilt_deg(upper)
