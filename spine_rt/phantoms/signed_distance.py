"""Signed distance fields of convex polygons on a sagittal grid.

All coordinates are in mm in the sagittal frame of :mod:`spine_shape`:
``ap`` runs anterior -> posterior, ``si`` runs superior -> inferior. Grids
are passed as broadcastable arrays, usually ``si`` as a column ``(N_si, 1)``
and ``ap`` as a row ``(1, N_ap)``, so a field has shape ``(N_si, N_ap)``
(rows = inferior, columns = posterior, like an image with anterior on the
left). Distances are negative inside, positive outside, in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_vertices(vertices: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    points = np.asarray(vertices, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"a polygon needs (N >= 3, 2) vertices, got shape {points.shape}")
    return points


def polygon_orientation(vertices: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Twice the signed area of the polygon (mm^2); the sign gives the winding."""
    points = _as_vertices(vertices)
    following = np.roll(points, -1, axis=0)
    return float(np.sum(points[:, 0] * following[:, 1] - following[:, 0] * points[:, 1]))


def inset_convex_polygon(vertices: Sequence[Sequence[float]] | np.ndarray, distance: float) -> np.ndarray:
    """Move every edge of a convex polygon inwards by ``distance`` mm.

    Returns the ``(N, 2)`` vertices of the inner polygon (each vertex is the
    intersection of the two shifted edges that meet there). ``distance`` is
    clamped so that the inner polygon keeps a positive area.
    """
    points = _as_vertices(vertices)
    if distance <= 0:
        return points.copy()
    centroid = points.mean(axis=0)
    edges = np.roll(points, -1, axis=0) - points
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    inward = np.sign(np.sum(normals * (centroid - points), axis=1))
    normals *= inward[:, None]
    for shrink in (1.0, 0.5, 0.25, 0.0):
        offsets = np.sum(normals * points, axis=1) + distance * shrink
        inner = np.empty_like(points)
        for i in range(len(points)):
            matrix = np.stack([normals[i - 1], normals[i]])
            inner[i] = np.linalg.solve(matrix, [offsets[i - 1], offsets[i]])
        same_winding = polygon_orientation(inner) * polygon_orientation(points) > 0
        if same_winding:
            return inner
    return points.copy()


def convex_polygon_distance(
    ap: np.ndarray, si: np.ndarray, vertices: Sequence[Sequence[float]] | np.ndarray
) -> np.ndarray:
    """Exact signed distance (mm) from grid points to a convex polygon.

    ``ap`` and ``si`` broadcast to the field's shape (e.g. ``(1, N_ap)`` and
    ``(N_si, 1)``); the result has their broadcast shape and dtype float32
    when the grids are float32.
    """
    points = _as_vertices(vertices)
    winding = 1.0 if polygon_orientation(points) > 0 else -1.0
    nearest_sq = None
    inside = None
    count = len(points)
    for i in range(count):
        start_ap, start_si = (float(v) for v in points[i])
        end_ap, end_si = (float(v) for v in points[(i + 1) % count])
        edge_ap, edge_si = end_ap - start_ap, end_si - start_si
        length_sq = edge_ap * edge_ap + edge_si * edge_si
        if length_sq == 0.0:
            continue
        rel_ap = ap - start_ap
        rel_si = si - start_si
        along = np.clip((rel_ap * edge_ap + rel_si * edge_si) * (1.0 / length_sq), 0.0, 1.0)
        off_ap = rel_ap - along * edge_ap
        off_si = rel_si - along * edge_si
        dist_sq = off_ap * off_ap + off_si * off_si
        left_of_edge = (edge_ap * rel_si - edge_si * rel_ap) * winding >= 0.0
        nearest_sq = dist_sq if nearest_sq is None else np.minimum(nearest_sq, dist_sq)
        inside = left_of_edge if inside is None else inside & left_of_edge
    distance = np.sqrt(nearest_sq)
    return np.where(inside, -distance, distance)


def rounded_polygon_distance(
    ap: np.ndarray, si: np.ndarray, vertices: Sequence[Sequence[float]] | np.ndarray, corner_radius: float
) -> np.ndarray:
    """Signed distance (mm) to a convex polygon whose corners are rounded.

    The straight parts of the edges stay exactly where the polygon's edges
    are; only the corners are replaced by arcs of ``corner_radius`` mm.
    """
    if corner_radius <= 0:
        return convex_polygon_distance(ap, si, vertices)
    inner = inset_convex_polygon(vertices, corner_radius)
    return convex_polygon_distance(ap, si, inner) - corner_radius


def ellipse_distance(
    ap: np.ndarray, si: np.ndarray, centre: Sequence[float], radii: Sequence[float], angle_deg: float = 0.0
) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipse (exact for a circle).

    ``radii`` are the semi-axes (mm) along the ellipse's own axes, the first
    rotated by ``angle_deg`` from the +ap axis towards +si.
    """
    cos_a, sin_a = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    rel_ap = ap - float(centre[0])
    rel_si = si - float(centre[1])
    u = rel_ap * float(cos_a) + rel_si * float(sin_a)
    v = -rel_ap * float(sin_a) + rel_si * float(cos_a)
    radius_u, radius_v = float(radii[0]), float(radii[1])
    scaled = np.sqrt((u / radius_u) ** 2 + (v / radius_v) ** 2)
    return (scaled - 1.0) * min(radius_u, radius_v)


def convex_hull(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """``(M, 2)`` vertices of the convex hull of ``points`` (monotone chain),
    counter-clockwise in a y-up frame; collinear points are dropped."""
    unique = sorted({(float(p[0]), float(p[1])) for p in points})
    if len(unique) < 3:
        raise ValueError("a convex hull needs at least three distinct points")

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for point in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    upper: list[tuple[float, float]] = []
    for point in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return np.array(lower[:-1] + upper[:-1])
