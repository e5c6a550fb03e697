"""Straight edges of a pixel region: the line along one side of a vertebral body or the sacrum.

:func:`fit_edge_line` takes the region's pixel centres and the direction
in which the wanted edge faces (its outward normal, roughly). In a frame
with ``u`` along the edge and ``w`` along that normal it keeps, per 1-pixel
``u`` bin, the outermost pixel (largest ``w``): the region's *envelope* on
that side. The central part of the envelope (``keep`` of its ``u`` span;
the rest is rounded corners and walls) is fitted with a robust straight
line (Theil-Sen, then least squares on the inliers). The frame is then
turned to the fitted line and the fit repeated, so an initial normal off by
up to about 30 degrees converges to the edge.

:func:`edge_ends` finds where the edge stops: the extreme positions, along
the line, of the region's pixels lying within a thin band inside it.

Coordinates are ``(column, row)`` pixels, rows growing downwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: frame re-alignments after the first fit
_ITERATIONS = 3
#: residual limit (pixels) below which a point is always an inlier (a binary edge is a staircase: up to 1 px off)
_MIN_INLIER_PX = 2.0
#: Theil-Sen uses at most this many points (evenly picked) to bound its O(n^2) pairs
_THEIL_SEN_POINTS = 300


@dataclass(frozen=True)
class EdgeLine:
    """A fitted edge: a point on it and its unit direction (both ``(2,)``, ``(column, row)``),
    the unit outward normal, and the fit's RMS residual and inlier count."""

    point: np.ndarray
    direction: np.ndarray
    normal: np.ndarray
    rms_px: float
    inliers: int

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance of ``points`` ``(N, 2)`` from the line, positive outside (along :attr:`normal`), pixels."""
        return (np.asarray(points, np.float64) - self.point) @ self.normal


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, np.float64)
    norm = float(np.hypot(vector[0], vector[1]))
    if norm == 0 or not np.isfinite(norm):
        raise ValueError("a zero or undefined direction")
    return vector / norm


def _envelope(u: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 1-pixel ``u`` bin the point of largest ``w``: ``(u, w)`` of those points."""
    bins = np.floor(u - u.min()).astype(np.int64)
    order = np.lexsort((w, bins))
    last = np.flatnonzero(np.diff(bins[order], append=bins[order][-1] + 1))
    chosen = order[last]
    return u[chosen], w[chosen]


def _theil_sen(u: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Median-of-pairwise-slopes line ``w = slope * u + intercept``."""
    if len(u) > _THEIL_SEN_POINTS:
        pick = np.linspace(0, len(u) - 1, _THEIL_SEN_POINTS).round().astype(np.int64)
        u, w = u[pick], w[pick]
    first, second = np.triu_indices(len(u), k=1)
    du = u[second] - u[first]
    valid = du != 0
    slope = float(np.median((w[second] - w[first])[valid] / du[valid])) if valid.any() else 0.0
    return slope, float(np.median(w - slope * u))


def _robust_line(u: np.ndarray, w: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Theil-Sen start, then least squares on the points within a robust residual limit."""
    slope, intercept = _theil_sen(u, w)
    inliers = np.ones(len(u), dtype=bool)
    for _ in range(3):
        residual = w - (slope * u + intercept)
        spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        inliers = np.abs(residual) <= max(_MIN_INLIER_PX, 3.0 * spread)
        if inliers.sum() < 2:
            break
        slope, intercept = np.polyfit(u[inliers], w[inliers], 1)
    return float(slope), float(intercept), inliers


def fit_edge_line(pixels: np.ndarray, outward: np.ndarray, *, keep: float = 0.7,
                  depth: float | None = None) -> EdgeLine:
    """Fit the straight edge of a region on the side ``outward`` points to.

    Args:
        pixels: ``(N, 2)`` pixel centres ``(column, row)`` of the region.
        outward: rough outward normal of the wanted edge ``(2,)`` (need not be unit).
        keep: central fraction of the envelope used (the ends are corners).
        depth: only pixels within this distance (pixels) of the outermost one
            along the normal are considered (a slab at the edge; None = all).

    Raises:
        ValueError: fewer than 3 envelope points, or a zero ``outward``.
    """
    points = np.asarray(pixels, np.float64).reshape(-1, 2)
    line = _fit_in_frame(points, _unit(outward), keep, depth)
    for _ in range(_ITERATIONS):
        line = _fit_in_frame(points, line.normal, keep, depth)
    return line


def _fit_in_frame(points: np.ndarray, normal: np.ndarray, keep: float, depth: float | None) -> EdgeLine:
    """One fit of the envelope in the frame (``u`` along the edge, ``w`` = ``normal``)."""
    along = np.array([-normal[1], normal[0]])
    u, w = points @ along, points @ normal
    if depth is not None:
        near = w >= w.max() - depth
        u, w = u[near], w[near]
    env_u, env_w = _envelope(u, w)
    low, high = env_u.min(), env_u.max()
    margin = 0.5 * (1.0 - keep) * (high - low)
    central = (env_u >= low + margin) & (env_u <= high - margin)
    u_kept, w_kept = env_u[central], env_w[central]
    if len(u_kept) < 3:
        raise ValueError(f"too few edge points ({len(u_kept)}) to fit a line")
    slope, intercept, inliers = _robust_line(u_kept, w_kept)
    middle = float(u_kept[inliers].mean())
    point = middle * along + (slope * middle + intercept) * normal
    residual = (w_kept - (slope * u_kept + intercept))[inliers] / np.hypot(1.0, slope)
    return EdgeLine(point, _unit(along + slope * normal), _unit(normal - slope * along),
                    float(np.sqrt(np.mean(residual ** 2))), int(inliers.sum()))


def edge_ends(pixels: np.ndarray, line: EdgeLine, band_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The two ends of ``line`` on the region: extreme positions along it of the pixels
    inside the region within ``band_px`` of it, projected onto the line.

    Returns:
        two ``(2,)`` points ``(column, row)``: the end at the smaller and the larger
        position along :attr:`EdgeLine.direction`.

    Raises:
        ValueError: no pixel lies in the band.
    """
    points = np.asarray(pixels, np.float64).reshape(-1, 2)
    distance = line.signed_distance(points)
    near = points[np.abs(distance) <= band_px]
    if len(near) == 0:
        raise ValueError("no region pixel near the fitted edge")
    position = (near - line.point) @ line.direction
    return line.point + position.min() * line.direction, line.point + position.max() * line.direction
