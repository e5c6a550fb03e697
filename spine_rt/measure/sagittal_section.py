"""One structure of a label map seen in its mid-sagittal plane, in world mm.

A :class:`SagittalSection` holds a structure's mask (a crop of the label
map) and a plane through it, normal to the patient's left-right axis, with
in-plane coordinates ``(a, s)`` in mm: ``a`` along the world anterior
direction, ``s`` along the world superior direction (RAS+ ``y`` and ``z``
when the plane is exactly sagittal). Coordinates are absolute (the world
point's projection), so sections of neighbouring structures in parallel
planes share them.

The plane: when a voxel axis of the scan points left-right (the usual
sagittal acquisition, any axis order or flip), it is the voxel slice along
that axis with the largest area of the structure that lies nearest to the
structure's centroid, so the mask is read within one slice (bilinear, never
mixing thick slices); otherwise (oblique grids) the plane through the
centroid normal to world left-right, read trilinearly.

Boundaries are found along rays: the mask is interpolated linearly and a
boundary is where it crosses 0.5, i.e. halfway between the last voxel centre
inside and the first outside (within half a voxel of the true surface for a
label map that labels a voxel when its centre is inside).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: a voxel axis counts as left-right when its direction's |x| component is at least this
LEFT_RIGHT_ALIGNMENT = 0.99
#: slices whose area is at least this fraction of the largest are candidates for the mid-sagittal slice
MID_SLICE_AREA_FRACTION = 0.95
_PAD = 2


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _axis_counts(mask: np.ndarray) -> list[np.ndarray]:
    """True voxels of a 3D ``mask`` per index along each of its axes: three int64 arrays of its shape's sizes."""
    plane = mask.sum(axis=2, dtype=np.int64)  # (I, J)
    return [plane.sum(axis=1), plane.sum(axis=0), mask.sum(axis=(0, 1), dtype=np.int64)]


class SagittalSection:
    """A structure's mask and its mid-sagittal plane (see the module docstring).

    Args:
        mask: ``(I, J, K)`` bool, the structure on the scan's grid (any orientation).
        affine: 4x4 voxel -> RAS+ world mm of that grid.
        within: optional box (slices of ``mask``) holding every True voxel: only it is searched
            for the structure, not the whole grid.

    Raises:
        ValueError: an empty mask.
    """

    def __init__(self, mask: np.ndarray, affine: np.ndarray, within: tuple[slice, ...] | None = None) -> None:
        within = tuple(slice(*s.indices(n)[:2]) for s, n in zip(within, mask.shape)) if within is not None else \
            tuple(slice(0, n) for n in mask.shape)
        part = mask[within]
        counts = _axis_counts(part if part.dtype == bool else part != 0)
        if counts[0].sum() == 0:
            raise ValueError("an empty mask has no section")
        found = [np.flatnonzero(c) for c in counts]
        box = tuple(slice(w.start + int(f[0]), w.start + int(f[-1]) + 1) for w, f in zip(within, found))
        start = np.array([max(s.start - _PAD, 0) for s in box])
        stop = np.array([min(s.stop + _PAD, n) for s, n in zip(box, mask.shape)])
        crop = mask[tuple(slice(a, b) for a, b in zip(start, stop))]
        pad = [(int(_PAD - (s.start - a)), int(_PAD - (b - s.stop))) for s, a, b in zip(box, start, stop)]
        # zeros around the crop, as np.pad gives, written directly (np.pad took 3x as long)
        self._values = np.zeros(tuple(n + low + high for n, (low, high) in zip(crop.shape, pad)), np.float32)
        self._values[tuple(slice(low, low + n) for n, (low, _) in zip(crop.shape, pad))] = crop
        self._origin = start.astype(np.float64) - np.array([p[0] for p in pad], dtype=np.float64)
        self.affine = np.asarray(affine, dtype=np.float64)
        self._inverse = np.linalg.inv(self.affine)
        columns = self.affine[:3, :3]
        self.spacing = np.linalg.norm(columns, axis=0)
        directions = columns / self.spacing
        total = float(counts[0].sum())
        # voxels per index along each axis give the centroid and the slice areas without listing the voxels
        centroid_voxel = np.array([w.start + float(np.arange(c.size) @ c) / total for w, c in zip(within, counts)])
        #: the structure's centroid, world mm ``(3,)``
        self.centroid = self.affine[:3, :3] @ centroid_voxel + self.affine[:3, 3]

        lateral = int(np.argmax(np.abs(directions[0])))
        self.in_slice = bool(abs(directions[0, lateral]) >= LEFT_RIGHT_ALIGNMENT)
        if self.in_slice:
            areas = counts[lateral]
            candidates = np.flatnonzero(areas >= MID_SLICE_AREA_FRACTION * areas.max()) + within[lateral].start
            chosen = candidates[np.argmin(np.abs(candidates - centroid_voxel[lateral]))]
            point_voxel = centroid_voxel.copy()
            point_voxel[lateral] = chosen
            others = [axis for axis in range(3) if axis != lateral]
            normal = _unit(np.cross(columns[:, others[0]], columns[:, others[1]]))
            in_plane_spacing = self.spacing[others]
        else:
            point_voxel = centroid_voxel
            normal = np.array([1.0, 0.0, 0.0])
            in_plane_spacing = self.spacing
        if normal[0] < 0:
            normal = -normal
        self.normal = normal
        self.point = self.affine[:3, :3] @ point_voxel + self.affine[:3, 3]
        self.anterior = _unit(np.array([0.0, 1.0, 0.0]) - normal[1] * normal)
        self.superior = np.cross(normal, self.anterior)
        #: the smallest in-plane voxel size (mm)
        self.voxel_mm = float(np.min(in_plane_spacing))
        #: the largest in-plane voxel size (mm)
        self.coarsest_voxel_mm = float(np.max(in_plane_spacing))
        self._step = max(self.voxel_mm / 4.0, 0.02)
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
        corners = self._origin + corners * (np.array(self._values.shape) - 1)
        world = corners @ self.affine[:3, :3].T + self.affine[:3, 3]
        plane = self.to_plane(world)
        self.bounds = (plane.min(axis=0), plane.max(axis=0))

    # ------------------------------------------------------------ coordinates
    def to_plane(self, world: np.ndarray) -> np.ndarray:
        """``(N, 3)`` world mm -> ``(N, 2)`` in-plane ``(a, s)`` mm."""
        return np.stack([world @ self.anterior, world @ self.superior], axis=-1)

    def to_world(self, plane: np.ndarray) -> np.ndarray:
        """``(..., 2)`` in-plane ``(a, s)`` mm -> ``(..., 3)`` world points on the plane."""
        plane = np.asarray(plane, dtype=np.float64)
        base = self.point - (self.point @ self.anterior) * self.anterior - (self.point @ self.superior) * self.superior
        return base + plane[..., :1] * self.anterior + plane[..., 1:] * self.superior

    def sample(self, plane: np.ndarray) -> np.ndarray:
        """The mask, linearly interpolated, at in-plane points ``(..., 2)`` (0 outside the crop)."""
        world = self.to_world(plane)
        voxel = world @ self._inverse[:3, :3].T + self._inverse[:3, 3] - self._origin
        flat = voxel.reshape(-1, 3).T
        values = ndimage.map_coordinates(self._values, flat, order=1, mode="constant", cval=0.0)
        return values.reshape(world.shape[:-1])

    # ------------------------------------------------------------ what lies in the plane
    def pixels(self) -> tuple[np.ndarray, float]:
        """In-plane points ``(N, 2)`` inside the structure's largest piece in the plane, and the grid step (mm)."""
        step = float(np.clip(self.voxel_mm / 2.0, 0.1, 1.0))
        low, high = self.bounds
        a = np.arange(low[0], high[0] + step, step)
        s = np.arange(low[1], high[1] + step, step)
        grid = np.stack(np.meshgrid(a, s, indexing="ij"), axis=-1)
        inside = self.sample(grid) >= 0.5
        pieces, count = ndimage.label(inside)
        if count == 0:
            return np.zeros((0, 2)), step
        sizes = np.bincount(pieces.ravel())
        sizes[0] = 0
        return grid[pieces == int(np.argmax(sizes))], step

    def distance_to_boundary(self, origins: np.ndarray, direction: np.ndarray, reach_mm: float,
                             entering: bool = False) -> np.ndarray:
        """Distance (mm) along ``direction`` from each origin ``(R, 2)`` to the first 0.5 crossing.

        Leaving (default): NaN where an origin lies outside or no exit is
        found within ``reach_mm``. Entering: the first crossing into the
        structure, NaN when none within ``reach_mm``.
        """
        origins = np.atleast_2d(np.asarray(origins, dtype=np.float64))
        steps = np.arange(0.0, reach_mm + self._step, self._step)
        points = origins[:, None, :] + steps[None, :, None] * _unit(np.asarray(direction, dtype=np.float64))
        values = self.sample(points) - 0.5
        crossed = values >= 0 if entering else values < 0
        result = np.full(len(origins), np.nan)
        for row in range(len(origins)):
            if not entering and values[row, 0] < 0:
                continue
            hits = np.flatnonzero(crossed[row, 1:])
            if hits.size == 0:
                continue
            after = hits[0] + 1
            before_value, after_value = values[row, after - 1], values[row, after]
            fraction = before_value / (before_value - after_value) if before_value != after_value else 0.0
            result[row] = steps[after - 1] + fraction * self._step
        return result
