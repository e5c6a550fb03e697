"""The minimum-area rectangle around a set of points (rotating the frame to each convex-hull edge)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RectangleFrame:
    """An oriented rectangle: ``centre`` ``(column, row)``, unit ``axes`` ``(2, 2)`` (rows = axis
    directions), half-sizes ``half_extent`` along each axis (pixels)."""

    centre: np.ndarray
    axes: np.ndarray
    half_extent: np.ndarray

    def axis_closest_to(self, direction: np.ndarray) -> np.ndarray:
        """The rectangle axis most parallel to ``direction``, signed to point the same way (unit ``(2,)``)."""
        direction = np.asarray(direction, np.float64)
        dots = self.axes @ direction
        best = int(np.argmax(np.abs(dots)))
        return self.axes[best] * (1.0 if dots[best] >= 0 else -1.0)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Hull vertices ``(H, 2)`` in order around the hull (monotone chain); fewer than 3 distinct points come back
    as they are."""
    unique = np.unique(points, axis=0)
    if len(unique) < 3:
        return unique

    def half(sequence: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for point in sequence:
            while len(chain) >= 2:
                a, b = chain[-2], chain[-1]
                if (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0]) > 0:
                    break
                chain.pop()
            chain.append(point)
        return chain

    lower, upper = half(unique), half(unique[::-1])
    return np.array(lower[:-1] + upper[:-1])


def minimum_area_rectangle(points: np.ndarray) -> RectangleFrame:
    """The smallest-area rectangle holding ``points`` ``(N, 2)`` (``(column, row)``, N >= 1).

    One side of the optimal rectangle lies on a convex-hull edge, so each hull
    edge direction is tried.
    """
    coordinates = np.asarray(points, np.float64).reshape(-1, 2)
    hull = _convex_hull(coordinates)
    if len(hull) < 2:
        return RectangleFrame(coordinates.mean(axis=0), np.eye(2), np.zeros(2))
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    directions = edges[lengths > 0] / lengths[lengths > 0, None]
    normals = np.stack([-directions[:, 1], directions[:, 0]], axis=1)
    along, across = hull @ directions.T, hull @ normals.T  # (H, E)
    areas = np.ptp(along, axis=0) * np.ptp(across, axis=0)
    best = int(np.argmin(areas))
    axes = np.stack([directions[best], normals[best]])
    low = np.array([along[:, best].min(), across[:, best].min()])
    high = np.array([along[:, best].max(), across[:, best].max()])
    centre = axes.T @ (0.5 * (low + high))
    return RectangleFrame(centre, axes, 0.5 * (high - low))
