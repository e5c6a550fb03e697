"""Synthetic lateral lumbar X-rays with exact masks and exact lumbar/pelvic angles.

:func:`lumbar_xray` draws a standing lumbar spine (T11 to the sacrum) whose
pelvic incidence, pelvic tilt and lumbar lordosis are chosen first, stacks
the vertebrae from the S1 endplate with exactly those angles, places the
femoral heads for that pelvic tilt, renders a projection radiograph (bone
bright, soft-tissue gradient, overlapping femoral heads add, noise) and
returns the BiLuNet/MBNet 5-class mask, the geometry in pixels and every
inspection value computed from that geometry with the definitions of
:mod:`spine_rt.anatomy.lumbar_parameters`.

Image coordinates: a point is ``(column, row)`` in pixels, pixel centres at
integers, the row growing downwards. The patient faces left (anterior =
smaller column) unless ``mirror=True``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.endplates import Endplate, Point
from spine_rt.anatomy.levels import LUMBAR_LEVELS
from spine_rt.anatomy.lumbar_parameters import LumbarParameters, lumbar_parameters
from spine_rt.errors import InputError
from spine_rt.phantoms.pelvis_shape import FemoralHead, PelvisShape, sample_pelvis
from spine_rt.phantoms.spine_shape import SpineShape, sample_spine_shape
from spine_rt.phantoms.spine_solids import spine_solids, vertebral_body_solid
from spine_rt.phantoms.xray_projection import XrayGrid, attenuation_map, radiograph

DEFAULT_SIZE = 1024
_MARGIN_MM = 5.0


@dataclass(frozen=True, eq=False)
class LumbarXray:
    """One synthetic lateral lumbar X-ray.

    * ``image``: uint8 ``(H, W)`` grey levels, bone bright (see :meth:`rgb`).
    * ``mask``: uint8 ``(H, W)``: 0 background, 1 vertebra (L1..L5 bodies,
      five separate components), 2 sacrum, 3 femoral head 1 (the more
      anterior head), 4 femoral head 2. Where the heads overlap the mask
      says 3.
    * ``pixel_spacing_mm``: the (square) pixel size in mm.
    * ``parameters``: the 18 inspection values implied *exactly* by the
      geometry below (degrees; LDI in %), see
      :mod:`~spine_rt.anatomy.lumbar_parameters` for definitions and signs.
    * ``vertebrae``: ``(upper, lower)`` endplates of L1..L5, top to bottom,
      in pixels ``(column, row)``.
    * ``s1_endplate``: the S1 endplate (the sacrum's top edge), pixels.
    * ``femoral_heads``: (head 1, head 2) circles in pixels.
    * ``hip_axis``: the midpoint of the two head centres, pixels.
    * ``spine``: the whole sagittal spine (T11..S5) in pixels.
    * ``mirrored``: whether the patient faces right.
    * ``seed``: the seed it was drawn from.

    It unpacks as ``image, mask = xray``.
    """

    image: np.ndarray
    mask: np.ndarray
    pixel_spacing_mm: float
    parameters: LumbarParameters
    vertebrae: tuple[tuple[Endplate, Endplate], ...]
    s1_endplate: Endplate
    femoral_heads: tuple[FemoralHead, FemoralHead]
    hip_axis: Point
    spine: SpineShape
    mirrored: bool
    seed: int

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.image, self.mask))

    def __repr__(self) -> str:
        return (
            f"LumbarXray(seed={self.seed}, shape={self.image.shape}, pixel_spacing_mm={self.pixel_spacing_mm:.4f}, "
            f"PI={self.parameters.pi:.1f}, LL={self.parameters.ll:.1f}, mirrored={self.mirrored})"
        )

    def rgb(self) -> np.ndarray:
        """The image as uint8 ``(H, W, 3)`` (three equal channels), as BiLuNet reads it."""
        return np.repeat(self.image[:, :, None], 3, axis=2)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_angle(name: str, value: object, low: float, high: float) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not low <= value <= high:
        raise InputError(f"{name} must be a number of degrees in [{low:g}, {high:g}] or None, got {value!r}")
    return float(value)


def _check_size(size: object) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        shape = (int(size), int(size))
    else:
        try:
            items = tuple(size)  # type: ignore[arg-type]
        except TypeError:
            raise InputError(f"size must be an integer or (height, width), got {size!r}") from None
        if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
            raise InputError(f"size must be an integer or (height, width), got {size!r}")
        shape = (int(items[0]), int(items[1]))
    if min(shape) < 64 or max(shape) > 4096:
        raise InputError(f"size must be 64..4096 pixels per side, got {shape}")
    return shape


def _sample_angles(
    rng: np.random.Generator, incidence: float | None, tilt: float | None, lordosis: float | None
) -> tuple[float, float, float]:
    """PI, PT, LL (degrees): drawn in the normal adult ranges unless given."""
    drawn_pi = float(np.clip(rng.normal(53.0, 9.0), 36.0, 82.0))
    drawn_pt = rng.normal(0.0, 4.0)
    drawn_ll = rng.normal(0.0, 5.0)
    pi = drawn_pi if incidence is None else incidence
    if tilt is None:
        low, high = max(6.0, pi - 64.0), min(29.0, pi - 21.0)
        if low > high:
            low, high = max(-20.0, pi - 75.0), min(50.0, pi - 5.0)
        tilt = float(np.clip(0.4 * pi - 9.0 + drawn_pt, low, high))
    if lordosis is None:
        lordosis = float(np.clip(0.54 * pi + 27.6 + drawn_ll, 32.0, 78.0))
    slope = pi - tilt
    if not 5.0 <= slope <= 75.0:
        raise InputError(
            f"pelvic incidence {pi:g} and pelvic tilt {tilt:g} give a sacral slope of {slope:g} degrees; "
            "it must be in [5, 75]"
        )
    return pi, tilt, lordosis


Box = tuple[float, float, float, float]


def _boxes(spine: SpineShape, pelvis: PelvisShape) -> tuple[Box, Box]:
    """Two ``(ap_min, ap_max, si_min, si_max)`` boxes (mm): what must be in
    the image (L1..L5, the S1 segment, both femoral heads) and what the
    image is centred on (the same plus the posterior elements)."""
    points = [spine.vertebra(name).outline() for name in LUMBAR_LEVELS + ("S1",)]
    for head in pelvis.heads:
        (c_ap, c_si), r = head.centre, head.radius
        points.append(np.array([[c_ap - r, c_si - r], [c_ap + r, c_si + r]]))
    stacked = np.concatenate(points)
    (ap_min, si_min), (ap_max, si_max) = stacked.min(axis=0), stacked.max(axis=0)
    margin = _MARGIN_MM
    needed = (float(ap_min) - margin, float(ap_max) + margin, float(si_min) - margin, float(si_max) + margin)
    elements = max(float(np.max(spine.vertebra(name).outline()[:, 0])) + depth + 40.0
                   for name, depth in zip((b.name for b in spine.vertebrae), spine.canal_depth_mm))  # fmt: skip
    wanted = (needed[0], max(needed[1], elements), needed[2], needed[3])
    return needed, wanted


def _place(
    rng: np.random.Generator,
    needed: Box,
    wanted: Box,
    shape: tuple[int, int],
    spacing: float | None,
) -> XrayGrid:
    """Pixel grid: ``needed`` must fit; the image is centred on ``wanted``
    (shifted a little at random)."""
    above, below = rng.uniform(15.0, 40.0), rng.uniform(5.0, 30.0)
    vertical_pick, horizontal_shift = rng.uniform(), rng.uniform(-0.1, 0.1)
    rows, cols = shape
    need_si, need_ap = needed[3] - needed[2], needed[1] - needed[0]
    want_ap = wanted[1] - wanted[0]
    if spacing is None:
        spacing = max((need_si + above + below) / (rows - 1), 1.1 * want_ap / (cols - 1))
    if (rows - 1) * spacing < need_si or (cols - 1) * spacing < need_ap:
        raise InputError(
            f"a {rows} x {cols} image at {spacing:g} mm per pixel cannot hold L1 to the femoral heads: "
            f"need at least {need_si:.0f} x {need_ap:.0f} mm"
        )
    slack_si = (rows - 1) * spacing - need_si
    top = needed[2] - min(slack_si, above + vertical_pick * max(0.0, slack_si - above - below))
    image_ap = (cols - 1) * spacing
    left = 0.5 * (wanted[0] + wanted[1]) - 0.5 * image_ap + horizontal_shift * image_ap
    left = min(max(left, needed[1] - image_ap), needed[0])  # keep the needed box inside
    return XrayGrid((rows, cols), float(spacing), (left, top))


def _mask(grid: XrayGrid, spine: SpineShape, pelvis: PelvisShape) -> np.ndarray:
    mask = np.zeros(grid.shape, dtype=np.uint8)
    outlines = [(vertebral_body_solid(spine.vertebra(name)), 1) for name in LUMBAR_LEVELS]
    outlines += [(solid, 2) for solid in spine_solids(spine) if solid.kind == "sacrum"]
    for solid, value in outlines:
        found = grid.window(solid.bounds(margin=grid.spacing_mm))
        if found is not None:
            window, ap, si = found
            mask[window][solid.signed_distance(ap, si) < 0.0] = value
    for head, value in ((pelvis.heads[1], 4), (pelvis.heads[0], 3)):
        (c_ap, c_si), r = head.centre, head.radius
        found = grid.window((c_ap - r - 1.0, c_ap + r + 1.0, c_si - r - 1.0, c_si + r + 1.0))
        if found is not None:
            window, ap, si = found
            mask[window][(ap - c_ap) ** 2 + (si - c_si) ** 2 < r * r] = value
    return mask


def lumbar_xray(
    seed: int = 0,
    *,
    size: int | tuple[int, int] = DEFAULT_SIZE,
    pixel_spacing_mm: float | None = None,
    pelvic_incidence_deg: float | None = None,
    pelvic_tilt_deg: float | None = None,
    lumbar_lordosis_deg: float | None = None,
    noise: float | None = None,
    mirror: bool = False,
) -> LumbarXray:
    """A synthetic lateral lumbar X-ray with exact mask, geometry and angles.

    Parameters
    ----------
    seed:
        Non-negative integer; the same seed and options give identical
        results. Anatomy, placement, appearance and noise use separate
        random streams.
    size:
        Image size, an integer (square) or ``(height, width)``, 64..4096.
    pixel_spacing_mm:
        Pixel size in mm; by default chosen so that L1 to below the femoral
        heads fills most of the height (about 0.3-0.4 mm at 1024 pixels).
    pelvic_incidence_deg, pelvic_tilt_deg, lumbar_lordosis_deg:
        Force PI, PT or LL (degrees). By default PI is drawn in 36-82, PT in
        6-29 (and so that SS = PI - PT lies in 21-64), LL in 32-78,
        correlated with PI as in normal adults: always inside the normal
        ranges of SEEDS.md (PI 34-84, PT 5-30, SS 20-65, LL 31-79).
    noise:
        Quantum noise level (random 0.02-0.05 by default; 0 for none).
    mirror:
        Flip left-right so that the patient faces right.

    Returns
    -------
    LumbarXray
        See its docstring for the fields and coordinate conventions.

    Raises
    ------
    InputError
        A bad seed, size, spacing, noise or angle, an angle combination
        whose sacral slope is outside 5-75 degrees, or a spacing too small
        for the anatomy to fit.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    shape = _check_size(size)
    if pixel_spacing_mm is not None:
        if not _is_number(pixel_spacing_mm) or not 0.05 <= pixel_spacing_mm <= 5.0:
            raise InputError(f"pixel_spacing_mm must be a number in [0.05, 5] mm or None, got {pixel_spacing_mm!r}")
        pixel_spacing_mm = float(pixel_spacing_mm)
    incidence = _check_angle("pelvic_incidence_deg", pelvic_incidence_deg, 20.0, 100.0)
    tilt = _check_angle("pelvic_tilt_deg", pelvic_tilt_deg, -20.0, 50.0)
    lordosis = _check_angle("lumbar_lordosis_deg", lumbar_lordosis_deg, 0.0, 100.0)
    if noise is not None and (not _is_number(noise) or not 0.0 <= noise <= 0.5):
        raise InputError(f"noise must be a number in [0, 0.5] or None, got {noise!r}")
    if not isinstance(mirror, bool):
        raise InputError(f"mirror must be True or False, got {mirror!r}")

    anatomy_rng, placement_rng, appearance_rng, noise_rng = (
        np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(4)
    )
    pi, pt, ll = _sample_angles(anatomy_rng, incidence, tilt, lordosis)
    spine_mm = sample_spine_shape(anatomy_rng, top_level="T11", sacral_slope_deg=pi - pt, lordosis_deg=ll)
    pelvis_mm = sample_pelvis(anatomy_rng, spine_mm.s1_endplate, pt)

    needed, wanted = _boxes(spine_mm, pelvis_mm)
    grid = _place(placement_rng, needed, wanted, shape, pixel_spacing_mm)
    solids = spine_solids(spine_mm)
    attenuation = attenuation_map(appearance_rng, grid, spine_mm, solids, pelvis_mm)
    default_noise = appearance_rng.uniform(0.02, 0.05)
    picture = radiograph(noise_rng, attenuation, grid.spacing_mm, default_noise if noise is None else float(noise))
    image = np.round(picture * 255.0).astype(np.uint8)
    mask = _mask(grid, spine_mm, pelvis_mm)

    width = shape[1]
    scale = 1.0 / grid.spacing_mm

    def to_pixels(point: Point) -> Point:
        column = (point[0] - grid.origin[0]) * scale
        row = (point[1] - grid.origin[1]) * scale
        return ((width - 1) - column if mirror else column, row)

    if mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        mask = np.ascontiguousarray(mask[:, ::-1])
    spine_px = spine_mm.mapped(to_pixels, scale)
    heads = tuple(head.mapped(to_pixels, scale) for head in pelvis_mm.heads)
    hip_axis = (0.5 * (heads[0].centre[0] + heads[1].centre[0]), 0.5 * (heads[0].centre[1] + heads[1].centre[1]))
    vertebrae = tuple((spine_px.vertebra(name).upper, spine_px.vertebra(name).lower) for name in LUMBAR_LEVELS)
    return LumbarXray(
        image=image,
        mask=mask,
        pixel_spacing_mm=grid.spacing_mm,
        parameters=lumbar_parameters(vertebrae, spine_px.s1_endplate, hip_axis),
        vertebrae=vertebrae,
        s1_endplate=spine_px.s1_endplate,
        femoral_heads=heads,  # type: ignore[arg-type]
        hip_axis=hip_axis,
        spine=spine_px,
        mirrored=mirror,
        seed=seed,
    )
