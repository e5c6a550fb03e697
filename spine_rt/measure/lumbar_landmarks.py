"""Landmarks of a lateral lumbar X-ray fitted to its BiLuNet/MBNet mask.

From the 5-class mask (0 background, 1 vertebra, 2 sacrum, 3 and 4 femoral
heads; :data:`spine_rt.anatomy.label_tables.XRAY_LABELS`):

* **Vertebrae.** The components of class 1 are sorted top to bottom; the
  lowest five are L5, L4, ... upwards when the sacrum is present (counted
  from the top otherwise). Each is framed by its minimum-area rectangle; the
  rectangle axis closer to the local spine axis (through the neighbouring
  vertebrae) is the body's height axis. The upper and lower endplates are
  straight lines fitted to the body's top and bottom envelopes
  (:func:`~spine_rt.measure.edge_line.fit_edge_line`, rounded corners left
  out), ending at the body's extreme pixels along them.
* **S1 endplate.** The top edge of the sacrum: its outward normal starts as
  the direction from the sacrum's pixel nearest to L5's centroid to that
  centroid (the foot of the perpendicular on the flat endplate), or the
  sacrum's upper principal axis without L5; the line is fitted like a
  vertebral endplate, in a slab at the sacrum's top, and ends at the
  sacrum's extreme anterior and posterior upper pixels.
* **Femoral heads.** A least-squares circle through each head's boundary
  against background (the boundary between the two heads, where one hides
  the other, and the image border are left out); the hip axis is the
  midpoint of the two centres (one centre when one head is found).
* **Facing.** The anterior end of the S1 endplate is the one towards the
  hip axis (pelvic incidence is positive in every adult); without heads, the
  side to which the lumbar curve bulges (lordosis); else left (noted).

Everything is in pixels ``(column, row)``, rows downwards, as in
:mod:`spine_rt.anatomy.endplates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spine_rt.anatomy.endplates import Endplate, Point
from spine_rt.anatomy.levels import LUMBAR_LEVELS
from spine_rt.measure.circle_fit import FittedCircle, fit_circle
from spine_rt.measure.edge_line import EdgeLine, edge_ends, fit_edge_line
from spine_rt.measure.mask_components import MaskComponent, class_components, largest_component, outer_boundary
from spine_rt.measure.rectangle_frame import minimum_area_rectangle

VERTEBRA, SACRUM, HEAD_1, HEAD_2 = 1, 2, 3, 4
#: central fraction of an endplate's envelope used for its line (the rest is rounded corners)
ENDPLATE_KEEP = 0.7
#: the band (fraction of the body's width, at least 2 pixels) inside an endplate line whose pixels give its ends
END_BAND_FRACTION = 0.05
#: depth of the slab at the sacrum's top searched for the S1 endplate, as a fraction of the sacrum's length
SACRUM_SLAB_FRACTION = 0.35
#: a femoral head needs this many visible boundary pixels for a circle
MIN_HEAD_BOUNDARY_PX = 12


@dataclass(frozen=True)
class VertebraLandmarks:
    """One lumbar vertebral body: ``level`` (``"L1"``..``"L5"``), its endplates (anterior and
    posterior ends in pixels), centroid and area."""

    level: str
    upper: Endplate
    lower: Endplate
    centroid: Point
    area_px: int


@dataclass(frozen=True)
class LumbarLandmarks:
    """What :func:`fit_lumbar_landmarks` found (pixels ``(column, row)``).

    Attributes:
        vertebrae: the lumbar bodies found, top to bottom (a level missing from the mask is absent).
        s1_endplate: the S1 endplate, or None without a sacrum.
        femoral_heads: the fitted head circles (0, 1 or 2; radii in column pixels).
        hip_axis: midpoint of the head centres, or None without heads.
        facing: ``"left"`` or ``"right"`` (where the patient's anterior side is).
        facing_from: how the facing was decided: ``"hip axis"``, ``"lumbar curve"`` or ``"assumed"``.
        notes: what was missing or unusual.
    """

    vertebrae: tuple[VertebraLandmarks, ...]
    s1_endplate: Endplate | None
    femoral_heads: tuple[FittedCircle, ...]
    hip_axis: Point | None
    facing: str
    facing_from: str
    notes: tuple[str, ...] = field(default=())

    def vertebra(self, level: str) -> VertebraLandmarks | None:
        """The landmarks of ``level`` (``"L3"``), or None when it was not found."""
        return next((v for v in self.vertebrae if v.level == level), None)

    def scaled(self, column_factor: float, row_factor: float) -> LumbarLandmarks:
        """The same landmarks with columns and rows multiplied (to mm, for non-square pixels).
        Head radii (in column pixels) are multiplied by ``column_factor``."""

        def point(p: Point) -> Point:
            return (float(p[0]) * column_factor, float(p[1]) * row_factor)

        def plate(e: Endplate) -> Endplate:
            return Endplate(point(e.anterior), point(e.posterior))

        return LumbarLandmarks(
            vertebrae=tuple(VertebraLandmarks(v.level, plate(v.upper), plate(v.lower), point(v.centroid), v.area_px)
                            for v in self.vertebrae),
            s1_endplate=None if self.s1_endplate is None else plate(self.s1_endplate),
            femoral_heads=tuple(
                FittedCircle(point(h.centre), h.radius * column_factor, h.rms_px * column_factor, h.points)
                for h in self.femoral_heads),
            hip_axis=None if self.hip_axis is None else point(self.hip_axis),
            facing=self.facing,
            facing_from=self.facing_from,
            notes=self.notes,
        )


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.hypot(vector[0], vector[1])), 1e-12)


def _line_ends(pixels: np.ndarray, line: EdgeLine, width_px: float) -> tuple[np.ndarray, np.ndarray]:
    return edge_ends(pixels, line, max(2.0, END_BAND_FRACTION * width_px))


def _spine_axes(components: list[MaskComponent]) -> list[np.ndarray]:
    """Per vertebra the unit downward spine direction through its neighbours' centroids."""
    centres = [np.asarray(c.centroid) for c in components]
    axes = []
    for index in range(len(centres)):
        above = centres[max(index - 1, 0)]
        below = centres[min(index + 1, len(centres) - 1)]
        step = below - above
        axes.append(_unit(step) if np.hypot(*step) > 0 else np.array([0.0, 1.0]))
    return axes


def _vertebra_endplates(component: MaskComponent, down: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray],
                                                                                   tuple[np.ndarray, np.ndarray]]:
    """``(upper ends, lower ends)`` of one body, each as two points in no particular order."""
    frame = minimum_area_rectangle(component.pixels)
    height_axis = frame.axis_closest_to(down)
    width = 2.0 * float(frame.half_extent[int(np.argmin(np.abs(frame.axes @ height_axis)))])
    upper = fit_edge_line(component.pixels, -height_axis, keep=ENDPLATE_KEEP)
    lower = fit_edge_line(component.pixels, height_axis, keep=ENDPLATE_KEEP)
    return _line_ends(component.pixels, upper, width), _line_ends(component.pixels, lower, width)


def _s1_ends(sacrum: MaskComponent, l5_centroid: Point | None) -> tuple[np.ndarray, np.ndarray]:
    pixels = sacrum.pixels
    if l5_centroid is not None:
        target = np.asarray(l5_centroid, np.float64)
        nearest = pixels[int(np.argmin(np.sum((pixels - target) ** 2, axis=1)))]
        outward = _unit(target - nearest)
    else:
        centred = pixels - pixels.mean(axis=0)
        _, _, vectors = np.linalg.svd(centred, full_matrices=False)
        outward = vectors[0] if vectors[0][1] < 0 else -vectors[0]  # the principal axis, pointing up
    length = float(np.ptp(pixels @ outward))
    line = fit_edge_line(pixels, outward, keep=ENDPLATE_KEEP, depth=SACRUM_SLAB_FRACTION * length)
    top = pixels[line.signed_distance(pixels) >= -SACRUM_SLAB_FRACTION * length]
    return _line_ends(pixels, line, float(np.ptp(top @ line.direction)))


def _head_circles(labels: np.ndarray, pixel_aspect: float) -> tuple[list[FittedCircle], list[str]]:
    """Circles fitted where the heads are round: rows scaled by ``pixel_aspect`` first, centres
    mapped back to pixels (radii in column pixels)."""
    circles, notes = [], []
    stretch = np.array([1.0, pixel_aspect])
    for label, other in ((HEAD_1, HEAD_2), (HEAD_2, HEAD_1)):
        component = largest_component(labels, label)
        if component is None:
            notes.append(f"no femoral head {label - 2} (class {label}) in the mask")
            continue
        boundary = outer_boundary(labels, component, foreign=(other,))
        if len(boundary) < MIN_HEAD_BOUNDARY_PX:
            notes.append(f"femoral head {label - 2}: too little visible outline for a circle")
            continue
        try:
            round_head = fit_circle(boundary * stretch)
        except ValueError as problem:
            notes.append(f"femoral head {label - 2}: {problem}")
            continue
        centre = (round_head.centre[0], round_head.centre[1] / pixel_aspect)
        circles.append(FittedCircle(centre, round_head.radius, round_head.rms_px, round_head.points))
    return circles, notes


def _lordosis_side(centroids: list[Point]) -> float | None:
    """+1 when the lumbar curve bulges towards larger columns, -1 towards smaller, None if unclear."""
    if len(centroids) < 3:
        return None
    points = np.asarray(centroids, np.float64)
    chord = _unit(points[-1] - points[0])
    normal = np.array([-chord[1], chord[0]])
    bulge = (points[1:-1] - points[0]) @ normal
    if not np.any(bulge):
        return None
    deepest = float(bulge[int(np.argmax(np.abs(bulge)))])
    return float(np.sign(deepest * normal[0])) if normal[0] != 0 else None


def _ordered(ends: tuple[np.ndarray, np.ndarray], posterior_sign: float) -> Endplate:
    """``ends`` as an :class:`Endplate`: anterior = smaller ``posterior_sign * column``."""
    first, second = ends
    if posterior_sign * first[0] <= posterior_sign * second[0]:
        anterior, posterior = first, second
    else:
        anterior, posterior = second, first
    return Endplate((float(anterior[0]), float(anterior[1])), (float(posterior[0]), float(posterior[1])))


def fit_lumbar_landmarks(labels: np.ndarray, pixel_aspect: float = 1.0) -> LumbarLandmarks:
    """Fit vertebral endplates, the S1 endplate, femoral heads and the hip axis to a mask.

    Args:
        labels: ``(H, W)`` integer label map with the classes of
            :data:`spine_rt.anatomy.label_tables.XRAY_LABELS` (pixels of the input image).
        pixel_aspect: row spacing / column spacing (1 for square pixels). Lines
            are fitted in pixels (straight lines stay straight under scaling);
            the femoral heads are fitted as circles in the scaled frame, where
            they are round.

    Returns:
        The landmarks in pixels (see the module docstring for the method).

    Raises:
        ValueError: ``labels`` is not 2D.
    """
    mask = np.asarray(labels)
    if mask.ndim != 2:
        raise ValueError(f"an X-ray label map must be 2D (H, W), got shape {mask.shape}")
    notes: list[str] = []
    bodies, dropped = class_components(mask, VERTEBRA)
    if dropped:
        notes.append(f"{dropped} small vertebra fragment(s) ignored")
    sacrum = largest_component(mask, SACRUM)
    if len(bodies) > len(LUMBAR_LEVELS):
        notes.append(f"{len(bodies)} vertebral bodies found; the lowest five are taken as L1..L5")
        bodies = bodies[-len(LUMBAR_LEVELS):]
    if len(bodies) < len(LUMBAR_LEVELS):
        counted = "upwards from the sacrum" if sacrum is not None else "downwards from the top"
        notes.append(f"{len(bodies)} of 5 lumbar bodies found; levels counted {counted}")
    if sacrum is not None:
        levels = LUMBAR_LEVELS[len(LUMBAR_LEVELS) - len(bodies):]
    else:
        levels = LUMBAR_LEVELS[: len(bodies)]

    circles, head_notes = _head_circles(mask, float(pixel_aspect))
    notes += head_notes
    hip_axis: Point | None = None
    if circles:
        hip_axis = (float(np.mean([c.centre[0] for c in circles])), float(np.mean([c.centre[1] for c in circles])))
        if len(circles) == 1:
            notes.append("one femoral head: the hip axis is its centre")

    s1_ends = None
    if sacrum is None:
        notes.append("no sacrum in the mask: no S1 endplate")
    else:
        l5 = bodies[-1].centroid if bodies and levels[-1] == "L5" else None
        try:
            s1_ends = _s1_ends(sacrum, l5)
        except ValueError as problem:
            notes.append(f"S1 endplate not fitted: {problem}")

    # facing: +1 when posterior is towards larger columns (the patient faces left)
    posterior_sign, facing_from = 1.0, "assumed"
    if s1_ends is not None and hip_axis is not None:
        middle = 0.5 * (s1_ends[0] + s1_ends[1])
        towards_hip = np.asarray(hip_axis) - middle
        anterior_end = s1_ends[0] if (s1_ends[0] - middle) @ towards_hip > 0 else s1_ends[1]
        posterior_sign = 1.0 if anterior_end[0] <= middle[0] else -1.0
        facing_from = "hip axis"
    else:
        side = _lordosis_side([body.centroid for body in bodies])
        if side is not None:
            posterior_sign, facing_from = -side, "lumbar curve"
        else:
            notes.append("facing not measurable; assumed left (anterior = smaller column)")

    vertebrae = []
    axes = _spine_axes(bodies)
    for level, body, down in zip(levels, bodies, axes):
        try:
            upper_ends, lower_ends = _vertebra_endplates(body, down)
        except ValueError as problem:
            notes.append(f"{level}: endplates not fitted ({problem})")
            continue
        vertebrae.append(VertebraLandmarks(level, _ordered(upper_ends, posterior_sign),
                                           _ordered(lower_ends, posterior_sign), body.centroid, body.area_px))
    return LumbarLandmarks(
        vertebrae=tuple(vertebrae),
        s1_endplate=None if s1_ends is None else _ordered(s1_ends, posterior_sign),
        femoral_heads=tuple(circles),
        hip_axis=hip_axis,
        facing="left" if posterior_sign > 0 else "right",
        facing_from=facing_from,
        notes=tuple(notes),
    )
