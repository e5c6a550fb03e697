"""A lateral projection radiograph of a spine, a pelvis and the soft tissue around them.

Every structure adds its *attenuation* (relative units per pixel, roughly
attenuation coefficient x path length): bone by the left-right path length
through it (twice a solid's half-width) plus a brighter cortical rim, the
femoral heads as spheres (where the two heads overlap their attenuation
adds), soft tissue by the body's left-right thickness, bowel gas by a
negative amount. :func:`radiograph` turns attenuation into a displayed
image: bone white, air black, with a heel-effect gradient, detector blur
and quantum noise.

The grid is in the sagittal frame of :mod:`spine_shape` (``(ap, si)`` mm,
facing left): pixel ``(row, col)`` has its centre at
``ap = ap0 + col * spacing``, ``si = si0 + row * spacing``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spine_rt.phantoms.pelvis_shape import PelvisShape
from spine_rt.phantoms.random_fields import smooth_noise
from spine_rt.phantoms.sagittal_solid import SagittalSolid
from spine_rt.phantoms.signed_distance import ellipse_distance, rounded_polygon_distance
from spine_rt.phantoms.spine_shape import SpineShape

#: Attenuation per mm of path through trabecular bone, by solid kind (relative units).
BONE_ATTENUATION_PER_MM: dict[str, float] = {
    "body": 0.004, "sacrum": 0.0022, "pedicle": 0.0035, "pillar": 0.0022,
    "lamina": 0.0025, "spinous": 0.0045, "sacral_arch": 0.003,
}  # fmt: skip
SOFT_TISSUE_PER_MM = 0.0009
RIM_WIDTH_MM = 0.9


@dataclass(frozen=True)
class XrayGrid:
    """``shape`` ``(H, W)``; ``spacing_mm`` the (square) pixel size; ``origin``
    the ``(ap, si)`` mm of the centre of pixel (0, 0)."""

    shape: tuple[int, int]
    spacing_mm: float
    origin: tuple[float, float]

    def window(self, bounds: tuple[float, float, float, float]):
        """Rows, columns and pixel-centre coordinates covering ``(ap_min, ap_max, si_min, si_max)`` mm,
        or ``None`` when that box misses the image."""
        ap_min, ap_max, si_min, si_max = bounds
        step = self.spacing_mm
        rows, cols = self.shape
        row0 = max(0, math.floor((si_min - self.origin[1]) / step))
        row1 = min(rows, math.ceil((si_max - self.origin[1]) / step) + 1)
        col0 = max(0, math.floor((ap_min - self.origin[0]) / step))
        col1 = min(cols, math.ceil((ap_max - self.origin[0]) / step) + 1)
        if row0 >= row1 or col0 >= col1:
            return None
        si = (self.origin[1] + np.arange(row0, row1, dtype=np.float64) * step).astype(np.float32)[:, None]
        ap = (self.origin[0] + np.arange(col0, col1, dtype=np.float64) * step).astype(np.float32)[None, :]
        return (slice(row0, row1), slice(col0, col1)), ap, si

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """``ap`` ``(1, W)`` and ``si`` ``(H, 1)`` of every pixel centre (mm)."""
        rows, cols = self.shape
        step = self.spacing_mm
        si = (self.origin[1] + np.arange(rows, dtype=np.float64) * step).astype(np.float32)[:, None]
        ap = (self.origin[0] + np.arange(cols, dtype=np.float64) * step).astype(np.float32)[None, :]
        return ap, si


def _add_solid(image: np.ndarray, grid: XrayGrid, solid: SagittalSolid, combine=np.add) -> None:
    """Add (or, with ``combine=np.maximum``, merge) one solid's attenuation."""
    per_mm = BONE_ATTENUATION_PER_MM.get(solid.kind)
    if per_mm is None:
        return
    pixel = grid.spacing_mm
    found = grid.window(solid.bounds(margin=2.0 * pixel))
    if found is None:
        return
    window, ap, si = found
    distance = solid.signed_distance(ap, si)
    coverage = np.clip(0.5 - distance * (1.0 / pixel), 0.0, 1.0)
    path = 2.0 * solid.half_width(distance, solid.axis_fraction(ap, si), 0.5 * pixel)
    rim = np.exp(-np.abs(distance) * (1.0 / RIM_WIDTH_MM)) * np.sqrt(path * (1.0 / (2.0 * solid.half_width_mm)))
    combine(image[window], coverage * (per_mm * path) + 0.09 * rim, out=image[window])


def _add_plate(
    image: np.ndarray, grid: XrayGrid, outline: np.ndarray, thickness: float, per_mm: float, rim_strength: float
) -> None:
    """A convex bony plate of ``thickness`` mm (ilium, femur, rib) with a cortical rim."""
    pixel = grid.spacing_mm
    ap_min, si_min = outline.min(axis=0)
    ap_max, si_max = outline.max(axis=0)
    found = grid.window((ap_min - 3.0, ap_max + 3.0, si_min - 3.0, si_max + 3.0))
    if found is None:
        return
    window, ap, si = found
    distance = rounded_polygon_distance(ap, si, outline, 8.0)
    coverage = np.clip(0.5 - distance * (1.0 / pixel), 0.0, 1.0)
    rounding = np.sqrt(np.clip(-distance * (1.0 / 4.0) + 0.1, 0.0, 1.0))
    rim = np.exp(-np.abs(distance) * (1.0 / RIM_WIDTH_MM))
    image[window] += coverage * rounding * (per_mm * thickness) + rim_strength * rim


def _add_femoral_heads(image: np.ndarray, grid: XrayGrid, pelvis: PelvisShape) -> None:
    pixel = grid.spacing_mm
    for head in pelvis.heads:
        (c_ap, c_si), radius = head.centre, head.radius
        found = grid.window((c_ap - radius - 8.0, c_ap + radius + 8.0, c_si - radius - 8.0, c_si + radius + 8.0))
        if found is None:
            continue
        window, ap, si = found
        distance = ellipse_distance(ap, si, head.centre, (radius, radius))
        coverage = np.clip(0.5 - distance * (1.0 / pixel), 0.0, 1.0)
        chord = 2.0 * np.sqrt(np.clip(-distance * (2.0 * radius + distance), 0.0, None))
        rim = np.exp(-np.abs(distance) * (1.0 / RIM_WIDTH_MM))
        # acetabular roof: a bony arc over the upper part of the head
        roof = np.exp(-(((distance - 3.5) * (1.0 / 1.5)) ** 2)) * np.clip((c_si + 0.3 * radius - si) * 0.2, 0.0, 1.0)
        image[window] += coverage * 0.0032 * chord + 0.06 * rim + 0.06 * roof


def _add_soft_tissue(
    rng: np.random.Generator, image: np.ndarray, grid: XrayGrid, spine: SpineShape, pelvis: PelvisShape
) -> None:
    """The body's left-right thickness (an ellipse between back and belly, wider at the hips) and bowel gas."""
    ap, si = grid.coordinates()
    rows = si[:, 0].astype(np.float64)
    anterior, posterior = spine.wall_lines(rows)
    s1_si = spine.s1_endplate.midpoint[1]
    fat = rng.uniform(8.0, 40.0)
    buttock = rng.uniform(20.0, 50.0) * np.clip((rows - s1_si - 40.0) / 60.0, 0.0, 1.0)
    back = ndimage.gaussian_filter1d(posterior + 60.0 + fat + buttock, sigma=25.0 / grid.spacing_mm, mode="nearest")
    belly = rng.uniform(110.0, 200.0)
    front = ndimage.gaussian_filter1d(anterior - belly, sigma=25.0 / grid.spacing_mm, mode="nearest")
    middle = 0.5 * (front + back)
    half = 0.5 * (back - front)
    hips = np.clip((rows - s1_si) / max(pelvis.hip_axis[1] - s1_si, 1.0), 0.0, 1.0)
    width = rng.uniform(250.0, 320.0) + rng.uniform(40.0, 90.0) * hips
    relative = (ap - middle.astype(np.float32)[:, None]) * (1.0 / half.astype(np.float32)[:, None])
    thickness = width.astype(np.float32)[:, None] * np.sqrt(np.clip(1.0 - relative * relative, 0.0, 1.0))
    image += SOFT_TISSUE_PER_MM * thickness
    # bowel gas in front of the spine
    for _ in range(int(rng.integers(3, 9))):
        centre_si = rng.uniform(spine.vertebra("L1").upper.midpoint[1], s1_si + 40.0)
        centre = (float(np.interp(centre_si, rows, anterior)) - rng.uniform(15.0, 90.0), centre_si)
        radii = (rng.uniform(8.0, 30.0), rng.uniform(6.0, 18.0))
        reach = radii[0] + 5.0
        found = grid.window((centre[0] - reach, centre[0] + reach, centre[1] - reach, centre[1] + reach))
        if found is None:
            continue
        window, wap, wsi = found
        distance = ellipse_distance(wap, wsi, centre, radii, rng.uniform(0.0, 180.0))
        image[window] -= SOFT_TISSUE_PER_MM * rng.uniform(20.0, 60.0) * np.clip(-distance * 0.5, 0.0, 1.0)


def _add_ribs(rng: np.random.Generator, image: np.ndarray, grid: XrayGrid, spine: SpineShape) -> None:
    for body, depth in zip(spine.vertebrae, spine.canal_depth_mm):
        if body.name not in ("T11", "T12"):
            continue
        height = body.lower.posterior[1] - body.upper.posterior[1]
        root = np.asarray(body.upper.posterior) + np.array([depth + 8.0, 0.35 * height])
        for _ in range(2):
            angle = math.radians(rng.uniform(30.0, 55.0))
            length = rng.uniform(90.0, 150.0)
            along = np.array([-math.cos(angle), math.sin(angle)])
            across = np.array([along[1], -along[0]])
            start = root + rng.normal(0.0, 3.0, 2)
            half = rng.uniform(4.0, 6.0)
            outline = np.array([start + half * across, start - half * across, start + length * along - 0.6 * half * across,
                                start + length * along + 0.6 * half * across])  # fmt: skip
            _add_plate(image, grid, outline, 9.0, 0.004, 0.04)


def attenuation_map(
    rng: np.random.Generator, grid: XrayGrid, spine: SpineShape, solids: list[SagittalSolid], pelvis: PelvisShape
) -> np.ndarray:
    """Total attenuation (float32 ``(H, W)``, relative units) of the scene."""
    image = np.zeros(grid.shape, dtype=np.float32)
    _add_soft_tissue(rng, image, grid, spine, pelvis)
    bone = np.zeros(grid.shape, dtype=np.float32)
    sacrum = np.zeros(grid.shape, dtype=np.float32)
    for solid in solids:
        if solid.kind == "sacrum":  # overlapping segments form one bone
            _add_solid(sacrum, grid, solid, np.maximum)
        else:
            _add_solid(bone, grid, solid)
    bone += sacrum
    for outline, thickness in pelvis.bones:
        _add_plate(bone, grid, outline, thickness, 0.0032, 0.04)
    _add_femoral_heads(bone, grid, pelvis)
    _add_ribs(rng, bone, grid, spine)
    trabecular = smooth_noise(rng, grid.shape, max(1.0, 1.2 / grid.spacing_mm))
    bone *= 1.0 + 0.08 * trabecular
    image += bone
    return image


def radiograph(rng: np.random.Generator, attenuation: np.ndarray, spacing_mm: float, noise: float) -> np.ndarray:
    """Displayed image (float32 ``(H, W)`` in [0, 1]; bone white, air black)
    from attenuation: exposure curve, heel effect, blur, quantum noise."""
    rows = attenuation.shape[0]
    heel = 1.0 + rng.uniform(-0.08, 0.08) * (np.arange(rows, dtype=np.float32) / max(rows - 1, 1) - 0.5)
    exposure = rng.uniform(1.8, 2.4)
    image = 1.0 - np.exp(-exposure * attenuation * heel[:, None])
    blur = rng.uniform(0.25, 0.5) / spacing_mm
    if blur > 0.3:
        image = ndimage.gaussian_filter(image, blur)
    if noise > 0:
        mottle = smooth_noise(rng, image.shape, max(1.0, 1.5 / spacing_mm))
        grain = rng.standard_normal(image.shape, dtype=np.float32)
        image = image + noise * np.sqrt(np.clip(image, 0.0, None) + 0.02) * (0.6 * grain + 0.4 * mottle)
    low, high = rng.uniform(0.0, 0.05), rng.uniform(0.8, 0.95)
    gamma = rng.uniform(0.8, 1.25)
    return (np.clip((image - low) / (high - low), 0.0, 1.0) ** gamma).astype(np.float32)
