"""The 3-D solids of a spine, built from its sagittal shape.

:func:`spine_solids` turns a :class:`~spine_rt.phantoms.spine_shape.SpineShape`
(mm, sagittal frame) into :class:`~spine_rt.phantoms.sagittal_solid.SagittalSolid`
objects: vertebral bodies, discs, sacral segments (the labelled structures),
and the spinal canal and posterior elements (pedicles, articular pillars,
laminae, spinous processes), which are unlabelled distractors. Both the MR
and the X-ray phantom render these same solids.
"""

from __future__ import annotations

import math

import numpy as np

from spine_rt.anatomy.endplates import Endplate
from spine_rt.anatomy.levels import LUMBAR_LEVELS
from spine_rt.phantoms.sagittal_solid import SagittalSolid
from spine_rt.phantoms.signed_distance import convex_hull
from spine_rt.phantoms.spine_shape import SpineShape, VertebralBody

#: Half-width (mm) of the dural sac; the canal between the pedicles is wider.
DURAL_SAC_HALF_WIDTH_MM = 8.5
#: Radius (mm) of the spinal cord behind each level; it tapers (conus) and ends at L1/L2.
CORD_RADIUS_MM: dict[str, float] = {
    "T7": 4.5, "T7/T8": 4.5, "T8": 4.5, "T8/T9": 4.5, "T9": 4.5, "T9/T10": 4.5, "T10": 4.5, "T10/T11": 4.6,
    "T11": 4.7, "T11/T12": 4.6, "T12": 4.4, "T12/L1": 3.8, "L1": 2.8, "L1/L2": 1.4,
}  # fmt: skip


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _posterior_direction(endplate: Endplate) -> np.ndarray:
    return _unit(np.asarray(endplate.posterior) - np.asarray(endplate.anterior))


def _wall_axis(upper: Endplate, lower: Endplate) -> tuple[tuple[float, float], tuple[float, float]]:
    """Anterior and posterior wall midpoints: the anterior -> posterior axis."""
    front = 0.5 * (np.asarray(upper.anterior) + np.asarray(lower.anterior))
    back = 0.5 * (np.asarray(upper.posterior) + np.asarray(lower.posterior))
    return (float(front[0]), float(front[1])), (float(back[0]), float(back[1]))


def vertebral_body_solid(body: VertebralBody) -> SagittalSolid:
    height = min(
        math.dist(body.upper.posterior, body.lower.posterior), math.dist(body.upper.anterior, body.lower.anterior)
    )
    return SagittalSolid(
        kind="body",
        name=body.name,
        outline=body.outline(),
        corner_radius_mm=min(2.5, 0.15 * height),
        half_width_mm=0.5 * body.width_mm,
        axis=_wall_axis(body.upper, body.lower),
        edge_radius_mm=4.0,
        width_profile=(0.45, 0.68),
    )


def _posterior_elements(body: VertebralBody, canal_depth: float) -> list[SagittalSolid]:
    """Pedicles, articular pillars, lamina and spinous process of one vertebra."""
    origin = np.asarray(body.upper.posterior)
    backwards = _unit(_posterior_direction(body.upper) + _posterior_direction(body.lower))
    wall = np.asarray(body.lower.posterior) - origin
    height = float(np.linalg.norm(wall))
    downwards = wall / max(height, 1e-9)
    lumbar = body.name in LUMBAR_LEVELS
    axis = ((float(origin[0]), float(origin[1])), tuple(float(v) for v in origin + 40.0 * backwards))
    c = canal_depth

    def local(points: list[tuple[float, float]]) -> np.ndarray:
        """Points given as (mm behind the posterior wall, mm below the upper endplate)."""
        return convex_hull([origin + a * backwards + b * downwards for a, b in points])

    def element(
        kind: str, points: list[tuple[float, float]], corner: float, half_width: float, offset: float, edge: float
    ) -> SagittalSolid:
        return SagittalSolid(
            kind=kind,
            name=body.name,
            outline=local(points),
            corner_radius_mm=corner,
            half_width_mm=half_width,
            axis=axis,
            lateral_offset_mm=offset,
            edge_radius_mm=edge,
        )

    pedicle_half = 4.2 if lumbar else 3.4
    pillar_half = 5.5 if lumbar else 4.5
    pedicle_centre = DURAL_SAC_HALF_WIDTH_MM + 3.0 + pedicle_half
    pillar_centre = DURAL_SAC_HALF_WIDTH_MM + 4.0 + pillar_half
    h = height
    pedicle = [(-3, 0.08 * h), (c + 2, 0.1 * h), (c + 2, 0.5 * h), (-3, 0.5 * h)]
    pillar = [(c - 1, -0.22 * h), (c + 12, -0.12 * h), (c + 14, 1.1 * h), (c + 1, 1.18 * h)]
    lamina = [(c, 0.05 * h), (c + 6, 0.1 * h), (c + 9, 1.05 * h), (c + 3, 1.12 * h)]
    if lumbar:  # horizontal, hatchet-shaped
        tip = c + 35.0
        spinous = [(c + 5, 0.12 * h), (tip, 0.3 * h), (tip, 0.85 * h), (c + 5, 0.98 * h)]
    else:  # long, sloping down over the level below
        spinous = [(c + 5, 0.05 * h), (c + 23.5, 1.25 * h), (c + 26.8, 1.6 * h), (c + 5, 0.9 * h)]
    solids = []
    for side in (-1.0, 1.0):
        solids.append(element("pedicle", pedicle, 2.5, pedicle_half, side * pedicle_centre, 1.5))
        solids.append(element("pillar", pillar, 3.0, pillar_half, side * pillar_centre, 2.0))
    solids.append(element("lamina", lamina, 2.0, DURAL_SAC_HALF_WIDTH_MM + 6.0, 0.0, 2.5))
    solids.append(element("spinous", spinous, 2.0, 3.5 if lumbar else 3.0, 0.0, 1.5))
    return solids


def _canal_piece(
    name: str, upper: Endplate, lower: Endplate, depth_upper: float, depth_lower: float, core: float
) -> SagittalSolid:
    """The dural sac behind one vertebra or disc (``depth_*``: its AP depth at
    each end, mm; ``core``: spinal cord radius, 0 for none)."""
    gap = 1.0
    up_back, low_back = _posterior_direction(upper), _posterior_direction(lower)
    up_wall, low_wall = np.asarray(upper.posterior), np.asarray(lower.posterior)
    outline = np.array(
        [
            up_wall + gap * up_back,
            up_wall + (gap + depth_upper) * up_back,
            low_wall + (gap + depth_lower) * low_back,
            low_wall + gap * low_back,
        ]
    )
    front = 0.5 * (outline[0] + outline[3])
    back = 0.5 * (outline[1] + outline[2])
    core_top = up_wall + (gap + 0.45 * depth_upper) * up_back
    core_bottom = low_wall + (gap + 0.45 * depth_lower) * low_back
    return SagittalSolid(
        kind="canal",
        name=name,
        outline=outline,
        corner_radius_mm=0.0,
        half_width_mm=DURAL_SAC_HALF_WIDTH_MM,
        axis=((float(front[0]), float(front[1])), (float(back[0]), float(back[1]))),
        edge_radius_mm=0.0,
        width_profile=(0.5, 0.62),
        core_line=((float(core_top[0]), float(core_top[1])), (float(core_bottom[0]), float(core_bottom[1]))),
        core_radius_mm=core,
    )


def spine_solids(shape: SpineShape) -> list[SagittalSolid]:
    """Every solid of the spine (mm). Bodies, discs and sacral segments have
    ``kind`` ``"body"``, ``"disc"``, ``"sacrum"``; the rest are
    ``"canal"``, ``"pedicle"``, ``"pillar"``, ``"lamina"``, ``"spinous"``
    and ``"sacral_arch"``."""
    solids: list[SagittalSolid] = []
    for body in shape.vertebrae:
        solids.append(vertebral_body_solid(body))
    for disc in shape.discs:
        posterior_height = math.dist(disc.upper.posterior, disc.lower.posterior)
        solids.append(
            SagittalSolid(
                kind="disc",
                name=disc.name,
                outline=disc.outline(bulge=1.0),
                corner_radius_mm=min(1.5, 0.3 * posterior_height),
                half_width_mm=0.5 * disc.width_mm,
                axis=_wall_axis(disc.upper, disc.lower),
                edge_radius_mm=4.0,
                width_profile=(0.45, 0.68),
            )
        )
    for index, segment in enumerate(shape.sacrum):
        outline = segment.outline()
        if index + 1 < len(shape.sacrum):  # overlap the next segment so the union has no notches
            down = _unit(np.asarray(segment.lower.posterior) - np.asarray(segment.upper.posterior))
            outline[2] += 2.5 * down
            outline[3] += 2.5 * down
        solids.append(
            SagittalSolid(
                kind="sacrum",
                name=segment.name,
                outline=outline,
                corner_radius_mm=2.0,
                half_width_mm=0.5 * segment.width_mm,
                axis=_wall_axis(segment.upper, segment.lower),
                edge_radius_mm=4.0,
                width_profile=None if index < 2 else (0.5, 0.75),
            )
        )

    # spinal canal: one piece behind each vertebra and each disc, sharing edges
    depths = dict(zip((body.name for body in shape.vertebrae), shape.canal_depth_mm))
    for body, disc in zip(shape.vertebrae, shape.discs):
        core = CORD_RADIUS_MM.get(body.name, 0.0)
        depth = depths[body.name]
        solids.append(_canal_piece(body.name, body.upper, body.lower, depth, depth, core))
        below = disc.name.split("/")[1]
        depth_below = depths.get(below, 0.8 * depth)
        disc_core = CORD_RADIUS_MM.get(disc.name, 0.0)
        solids.append(_canal_piece(disc.name, disc.upper, disc.lower, depth, depth_below, disc_core))
    last_depth = shape.canal_depth_mm[-1]
    s1 = shape.sacrum[0]
    solids.append(_canal_piece("S1", s1.upper, s1.lower, 0.8 * last_depth, 3.0, 0.0))

    for body, depth in zip(shape.vertebrae, shape.canal_depth_mm):
        solids.extend(_posterior_elements(body, depth))

    # dorsal plate of the sacrum behind the sacral canal
    for index, segment in enumerate(shape.sacrum[:4]):
        canal = (0.8 * last_depth + 2.0) * (1.0 - 0.18 * index)
        up_back, low_back = _posterior_direction(segment.upper), _posterior_direction(segment.lower)
        up_wall, low_wall = np.asarray(segment.upper.posterior), np.asarray(segment.lower.posterior)
        thickness = 9.0 - 1.5 * index
        outline = convex_hull(
            [up_wall + canal * up_back, up_wall + (canal + thickness) * up_back,
             low_wall + (0.8 * canal + thickness) * low_back, low_wall + 0.8 * canal * low_back]
        )  # fmt: skip
        front = up_wall + canal * up_back
        solids.append(
            SagittalSolid(
                "sacral_arch", segment.name, outline, 2.0, 0.5 * segment.width_mm * 0.45,
                ((float(front[0]), float(front[1])), tuple(float(v) for v in front + 10.0 * up_back)),
                0.0, 3.0,
            )
        )
    return solids
