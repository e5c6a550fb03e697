"""Least-squares circles through boundary points (femoral heads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Gauss-Newton steps refining the algebraic fit to the geometric one
_REFINEMENT_STEPS = 10


@dataclass(frozen=True)
class FittedCircle:
    """``centre`` ``(column, row)`` and ``radius`` in pixels; ``rms_px`` the RMS distance of the points to it."""

    centre: tuple[float, float]
    radius: float
    rms_px: float
    points: int


def fit_circle(points: np.ndarray) -> FittedCircle:
    """The circle minimising the squared distances to ``points`` ``(N, 2)`` (N >= 3, not collinear).

    Starts from the algebraic fit (``x^2 + y^2 + D x + E y + F = 0``, linear
    least squares) and refines the centre and radius with Gauss-Newton steps
    on the geometric distances, which the algebraic fit biases on short arcs.

    Raises:
        ValueError: fewer than 3 points, or points on a line.
    """
    xy = np.asarray(points, np.float64).reshape(-1, 2)
    if len(xy) < 3:
        raise ValueError(f"a circle needs at least 3 points, got {len(xy)}")
    offset = xy.mean(axis=0)
    local = xy - offset
    spread = np.linalg.svd(local, compute_uv=False)
    if spread[-1] <= 1e-9 * max(float(spread[0]), 1e-12):
        raise ValueError("the points lie on a line; no circle fits them")
    design = np.column_stack([local, np.ones(len(local))])
    target = -(local ** 2).sum(axis=1)
    (d, e, f), *_ = np.linalg.lstsq(design, target, rcond=None)
    centre = np.array([-d / 2.0, -e / 2.0])
    squared = centre @ centre - f
    if not np.isfinite(squared) or squared <= 0:
        raise ValueError("the points lie on a line; no circle fits them")
    radius = float(np.sqrt(squared))
    for _ in range(_REFINEMENT_STEPS):
        delta = local - centre
        distance = np.hypot(delta[:, 0], delta[:, 1])
        distance = np.where(distance > 0, distance, 1e-12)
        residual = distance - radius
        jacobian = np.column_stack([-delta[:, 0] / distance, -delta[:, 1] / distance, -np.ones(len(local))])
        step, *_ = np.linalg.lstsq(jacobian, -residual, rcond=None)
        centre = centre + step[:2]
        radius = radius + float(step[2])
        if float(np.abs(step).max()) < 1e-6:
            break
    distance = np.hypot(*(local - centre).T)
    rms = float(np.sqrt(np.mean((distance - radius) ** 2)))
    return FittedCircle((float(centre[0] + offset[0]), float(centre[1] + offset[1])), abs(radius), rms, len(xy))
