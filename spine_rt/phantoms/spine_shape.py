"""The sagittal shape of a spine: endplates, vertebral bodies, discs, sacrum.

Geometry is 2-D, in the mid-sagittal plane, in mm, in the *sagittal frame*:

* ``ap``: anterior -> posterior (a larger ``ap`` is further back),
* ``si``: superior -> inferior (a larger ``si`` is lower).

Drawn as an image (rows = ``si``, columns = ``ap``) the patient faces left.
Every structure is built from *endplates*
(:class:`~spine_rt.anatomy.endplates.Endplate`): line segments with an
anterior and a posterior end. A vertebral body is the quadrilateral between its upper and
lower endplate, a disc the space between the lower endplate of one vertebra
and the upper endplate of the next, the sacrum a chain of five fused
segments whose top is the S1 endplate.

The spine is stacked from the S1 endplate upwards: each element (disc or
vertebral body) is given a posterior height, a wedge angle (lordosis
positive: the anterior side taller) and the length of its top endplate, so
every angle between endplates is known exactly by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.endplates import Endplate, Point
from spine_rt.anatomy.levels import LUMBAR_LEVELS, SACRAL_SEGMENTS

#: Vertebral levels this module can build, top to bottom.
LEVEL_NAMES: tuple[str, ...] = ("T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5")


@dataclass(frozen=True)
class VertebralBody:
    """A vertebral body (or a sacral segment) between two endplates.

    ``width_mm`` is its left-right extent (mm); ``name`` is the level
    (``"L3"``, ``"T12"``, ``"S1"``).
    """

    name: str
    upper: Endplate
    lower: Endplate
    width_mm: float

    def outline(self) -> np.ndarray:
        """``(4, 2)`` corners ``(ap, si)``: upper anterior, upper posterior, lower posterior, lower anterior."""
        return np.array([self.upper.anterior, self.upper.posterior, self.lower.posterior, self.lower.anterior])

    def mapped(self, transform: Callable[[Point], Point], width_scale: float = 1.0) -> VertebralBody:
        upper, lower = self.upper.mapped(transform), self.lower.mapped(transform)
        return VertebralBody(self.name, upper, lower, self.width_mm * width_scale)


@dataclass(frozen=True)
class Disc:
    """An intervertebral disc between the lower endplate of the vertebra above
    (``upper``) and the upper endplate of the vertebra below (``lower``).

    ``name`` is ``"<above>/<below>"``, e.g. ``"L4/L5"`` or ``"L5/S1"``.
    """

    name: str
    upper: Endplate
    lower: Endplate
    width_mm: float

    def outline(self, bulge: float = 0.0) -> np.ndarray:
        """Corners ``(ap, si)`` of the disc; with ``bulge`` > 0 (mm) a convex
        hexagon whose anterior and posterior walls bulge outwards."""
        quad = np.array([self.upper.anterior, self.upper.posterior, self.lower.posterior, self.lower.anterior])
        if bulge <= 0:
            return quad
        centre = quad.mean(axis=0)
        points = []
        for start, end in ((0, 1), (1, 2), (2, 3), (3, 0)):
            points.append(quad[start])
            if (start, end) in ((1, 2), (3, 0)):  # posterior and anterior walls
                middle = 0.5 * (quad[start] + quad[end])
                edge = quad[end] - quad[start]
                normal = np.array([-edge[1], edge[0]]) / max(float(np.linalg.norm(edge)), 1e-9)
                if np.dot(normal, middle - centre) < 0:
                    normal = -normal
                points.append(middle + bulge * normal)
        return np.array(points)

    def mapped(self, transform: Callable[[Point], Point], width_scale: float = 1.0) -> Disc:
        return Disc(self.name, self.upper.mapped(transform), self.lower.mapped(transform), self.width_mm * width_scale)


@dataclass(frozen=True)
class SpineShape:
    """A whole sagittal spine.

    ``vertebrae`` run top to bottom and end with L5; ``discs[i]`` lies below
    ``vertebrae[i]`` (the last is L5/S1); ``sacrum`` holds the segments
    S1..S5, top to bottom, ``sacrum[0].upper`` being the S1 endplate.
    ``canal_depth_mm`` gives, per vertebra, the anterior-posterior depth of
    the spinal canal behind it (mm).
    """

    vertebrae: tuple[VertebralBody, ...]
    discs: tuple[Disc, ...]
    sacrum: tuple[VertebralBody, ...]
    canal_depth_mm: tuple[float, ...]

    @property
    def s1_endplate(self) -> Endplate:
        return self.sacrum[0].upper

    def vertebra(self, name: str) -> VertebralBody:
        for body in self.vertebrae + self.sacrum:
            if body.name == name:
                return body
        raise KeyError(name)

    def disc(self, name: str) -> Disc:
        for disc in self.discs:
            if disc.name == name:
                return disc
        raise KeyError(name)

    def corners(self) -> np.ndarray:
        """``(N, 2)`` every endplate end ``(ap, si)`` of vertebrae and sacrum."""
        return np.concatenate([body.outline() for body in self.vertebrae + self.sacrum])

    def wall_lines(self, si: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ap`` of the anterior and of the posterior wall of the vertebral
        column (bodies and sacrum, joined straight across the discs) at each
        ``si``; constant beyond the ends."""
        bodies = self.vertebrae + self.sacrum
        front = np.array([p for body in bodies for p in (body.upper.anterior, body.lower.anterior)])
        back = np.array([p for body in bodies for p in (body.upper.posterior, body.lower.posterior)])
        front = front[np.argsort(front[:, 1], kind="stable")]
        back = back[np.argsort(back[:, 1], kind="stable")]
        return np.interp(si, front[:, 1], front[:, 0]), np.interp(si, back[:, 1], back[:, 0])

    def mapped(self, transform: Callable[[Point], Point], length_scale: float = 1.0) -> SpineShape:
        """The same spine with every point moved by ``transform``; widths and
        canal depths are multiplied by ``length_scale`` (use it when the
        transform scales, e.g. mm -> pixels)."""
        return SpineShape(
            tuple(body.mapped(transform, length_scale) for body in self.vertebrae),
            tuple(disc.mapped(transform, length_scale) for disc in self.discs),
            tuple(body.mapped(transform, length_scale) for body in self.sacrum),
            tuple(depth * length_scale for depth in self.canal_depth_mm),
        )

    def rotated(self, angle_deg: float, about: Point) -> SpineShape:
        """Rigidly rotated by ``angle_deg`` about ``about``; positive turns +ap towards +si."""
        cos_a, sin_a = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))

        def turn(point: Point) -> Point:
            rel_ap, rel_si = point[0] - about[0], point[1] - about[1]
            return (about[0] + cos_a * rel_ap - sin_a * rel_si, about[1] + sin_a * rel_ap + cos_a * rel_si)

        return self.mapped(turn)

    def shifted(self, d_ap: float, d_si: float) -> SpineShape:
        return self.mapped(lambda point: (point[0] + d_ap, point[1] + d_si))


# --- building ---------------------------------------------------------------


def _tilt_rad(endplate: Endplate) -> float:
    """Tilt of an endplate of a left-facing spine: positive when its anterior end is lower."""
    return math.atan2(endplate.anterior[1] - endplate.posterior[1], endplate.posterior[0] - endplate.anterior[0])


def _towards_anterior(tilt: float) -> np.ndarray:
    """Unit vector posterior -> anterior along an endplate of this tilt (radians)."""
    return np.array([-math.cos(tilt), math.sin(tilt)])


def _towards_superior(tilt: float) -> np.ndarray:
    """Unit normal of an endplate of this tilt that points superiorly."""
    return np.array([-math.sin(tilt), -math.cos(tilt)])


def stack_above(
    lower: Endplate, posterior_height: float, wedge_deg: float, top_length: float, slip: float = 0.0
) -> Endplate:
    """The top endplate of an element standing on ``lower``.

    The element's posterior wall is ``posterior_height`` mm long; its top is
    turned by ``wedge_deg`` (lordosis positive: anterior side taller) from
    ``lower``; ``slip`` (mm) moves the top endplate anteriorly along itself
    (anterolisthesis positive). The spine must face left (anterior at smaller
    ``ap``).
    """
    tilt_low = _tilt_rad(lower)
    tilt_top = tilt_low - math.radians(wedge_deg)
    wall = _towards_superior(0.5 * (tilt_low + tilt_top))
    along = _towards_anterior(tilt_top)
    posterior = np.asarray(lower.posterior) + posterior_height * wall + slip * along
    anterior = posterior + top_length * along
    return Endplate((float(anterior[0]), float(anterior[1])), (float(posterior[0]), float(posterior[1])))


def stack_below(upper: Endplate, posterior_height: float, kyphosis_deg: float, bottom_length: float) -> Endplate:
    """The bottom endplate of an element hanging below ``upper`` (sacrum).

    ``kyphosis_deg`` > 0 turns the bottom so that the chain curls anteriorly,
    as the sacrum does.
    """
    tilt_up = _tilt_rad(upper)
    tilt_bottom = tilt_up - math.radians(kyphosis_deg)
    wall = -_towards_superior(0.5 * (tilt_up + tilt_bottom))
    along = _towards_anterior(tilt_bottom)
    posterior = np.asarray(upper.posterior) + posterior_height * wall
    anterior = posterior + bottom_length * along
    return Endplate((float(anterior[0]), float(anterior[1])), (float(posterior[0]), float(posterior[1])))


@dataclass(frozen=True)
class LevelPlan:
    """What to build for one vertebra and the disc below it (mm, degrees).

    ``wedge_deg`` / ``disc_wedge_deg``: lordosis positive. ``slip_mm``: how
    far this vertebra sits anterior of the one below (listhesis).
    """

    name: str
    height_mm: float
    depth_mm: float
    width_mm: float
    wedge_deg: float
    disc_height_mm: float
    disc_wedge_deg: float
    canal_depth_mm: float
    slip_mm: float = 0.0


@dataclass(frozen=True)
class SacralPlan:
    """One sacral segment: posterior height, bottom length, width (mm) and
    how much the chain curls anteriorly below it (degrees)."""

    name: str
    height_mm: float
    bottom_length_mm: float
    width_mm: float
    kyphosis_deg: float


def build_spine_shape(
    sacral_slope_deg: float, s1_length_mm: float, levels: Sequence[LevelPlan], sacrum: Sequence[SacralPlan]
) -> SpineShape:
    """Stack a left-facing spine on an S1 endplate tilted by ``sacral_slope_deg``.

    The S1 endplate's posterior end is at ``(0, 0)``. ``levels`` run top to
    bottom (the last is L5); ``sacrum`` top to bottom (S1 first).
    """
    tilt = math.radians(sacral_slope_deg)
    s1_anterior = s1_length_mm * _towards_anterior(tilt)
    s1 = Endplate((float(s1_anterior[0]), float(s1_anterior[1])), (0.0, 0.0))

    segments = []
    top = s1
    for plan in sacrum:
        bottom = stack_below(top, plan.height_mm, plan.kyphosis_deg, plan.bottom_length_mm)
        segments.append(VertebralBody(plan.name, top, bottom, plan.width_mm))
        top = bottom

    bodies: list[VertebralBody] = []
    discs: list[Disc] = []
    below = s1
    below_name = "S1"
    for plan in reversed(levels):
        disc_top = stack_above(below, plan.disc_height_mm, plan.disc_wedge_deg, plan.depth_mm, plan.slip_mm)
        discs.append(Disc(f"{plan.name}/{below_name}", disc_top, below, 0.97 * plan.width_mm))
        body_top = stack_above(disc_top, plan.height_mm, plan.wedge_deg, 0.98 * plan.depth_mm)
        bodies.append(VertebralBody(plan.name, body_top, disc_top, plan.width_mm))
        below = body_top
        below_name = plan.name
    return SpineShape(
        tuple(reversed(bodies)), tuple(reversed(discs)), tuple(segments), tuple(plan.canal_depth_mm for plan in levels)
    )


# --- sampling ---------------------------------------------------------------

#: Typical adult sizes (mm): posterior body height, body depth (AP), body
#: width (left-right), posterior height of the disc below, canal depth (AP).
TYPICAL_LEVEL_SIZE_MM: dict[str, tuple[float, float, float, float, float]] = {
    "T7": (18.5, 26.0, 30.0, 3.6, 14.0),
    "T8": (19.0, 27.0, 32.0, 3.8, 14.0),
    "T9": (19.5, 28.0, 34.0, 4.0, 14.5),
    "T10": (20.5, 29.0, 36.0, 4.3, 14.5),
    "T11": (21.5, 30.0, 38.0, 4.8, 15.0),
    "T12": (23.0, 31.0, 40.0, 5.5, 15.5),
    "L1": (25.0, 33.0, 42.0, 6.2, 16.5),
    "L2": (26.0, 34.0, 44.0, 6.8, 16.5),
    "L3": (26.5, 35.0, 46.0, 7.2, 16.0),
    "L4": (26.0, 35.5, 48.0, 7.0, 16.0),
    "L5": (24.5, 35.5, 50.0, 6.3, 16.5),
}

#: How lumbar lordosis (L1 upper endplate to S1) is shared out on average:
#: vertebral wedges ``"L1"``..``"L5"`` and disc angles ``"L1/L2"``..``"L5/S1"``.
LORDOSIS_SHARE: dict[str, float] = {
    "L1": -0.02, "L1/L2": 0.05, "L2": 0.01, "L2/L3": 0.08, "L3": 0.04,
    "L3/L4": 0.12, "L4": 0.08, "L4/L5": 0.19, "L5": 0.17, "L5/S1": 0.28,
}  # fmt: skip


def split_lordosis(rng: np.random.Generator, lordosis_deg: float) -> dict[str, float]:
    """Share ``lordosis_deg`` out over the five lumbar wedges and five lumbar
    discs (keys of :data:`LORDOSIS_SHARE`); the values sum to ``lordosis_deg``."""
    names = list(LORDOSIS_SHARE)
    shares = np.array([LORDOSIS_SHARE[name] for name in names]) + rng.normal(0.0, 0.015, len(names))
    shares /= shares.sum()
    return {name: float(lordosis_deg * share) for name, share in zip(names, shares)}


def sample_spine_shape(
    rng: np.random.Generator, *, top_level: str, sacral_slope_deg: float, lordosis_deg: float
) -> SpineShape:
    """A random adult spine from ``top_level`` (e.g. ``"T7"``) down to the sacrum.

    Sizes vary per subject (one overall scale) and per level; lumbar
    lordosis (L1 upper endplate to S1 endplate) is exactly ``lordosis_deg``
    and the S1 endplate's tilt exactly ``sacral_slope_deg``; thoracic levels
    are mildly kyphotic.
    """
    if top_level not in LEVEL_NAMES:
        raise ValueError(f"top_level must be one of {LEVEL_NAMES}, got {top_level!r}")
    names = LEVEL_NAMES[LEVEL_NAMES.index(top_level):]
    scale = rng.uniform(0.92, 1.06)
    lordosis = split_lordosis(rng, lordosis_deg)
    levels = []
    for name in names:
        height, depth, width, disc_height, canal = TYPICAL_LEVEL_SIZE_MM[name]
        jitter = rng.uniform(0.95, 1.05, 5)
        below = LEVEL_NAMES[LEVEL_NAMES.index(name) + 1] if name != "L5" else "S1"
        if name in LUMBAR_LEVELS:
            wedge, disc_wedge = lordosis[name], lordosis[f"{name}/{below}"]
        else:
            wedge = rng.normal(-3.0, 0.8)
            disc_wedge = rng.normal(-0.5 if name == "T12" else -1.2, 0.6)
        levels.append(
            LevelPlan(
                name=name,
                height_mm=scale * height * jitter[0],
                depth_mm=scale * depth * jitter[1],
                width_mm=scale * width * jitter[2],
                wedge_deg=wedge,
                disc_height_mm=scale * disc_height * jitter[3],
                disc_wedge_deg=disc_wedge,
                canal_depth_mm=scale * canal * jitter[4],
                slip_mm=float(rng.normal(0.0, 0.6)),
            )
        )
    s1_length = scale * rng.uniform(36.0, 42.0)
    sacrum = []
    heights = (27.0, 22.0, 18.0, 14.0, 11.0)
    lengths = (0.86, 0.70, 0.55, 0.42, 0.32)
    widths = (105.0, 85.0, 60.0, 40.0, 28.0)
    curls = (4.0, 9.0, 12.0, 14.0, 14.0)
    for name, height, length, width, curl in zip(SACRAL_SEGMENTS, heights, lengths, widths, curls):
        sacrum.append(
            SacralPlan(
                name=name,
                height_mm=scale * height * rng.uniform(0.93, 1.07),
                bottom_length_mm=s1_length * length * rng.uniform(0.95, 1.05),
                width_mm=scale * width,
                kyphosis_deg=curl + rng.normal(0.0, 2.0),
            )
        )
    return build_spine_shape(sacral_slope_deg, s1_length, levels, sacrum)
