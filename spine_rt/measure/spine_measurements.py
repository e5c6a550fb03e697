"""Vertebral body, disc and lordosis measurements of a spine MR label map (``docs/measurements.md``).

:func:`measure_spine` takes a label map, its affine and the label names and
returns :class:`~spine_rt.measure.measurement_values.SpineMeasurements`:

* vertebral body: volume (mm3), anterior / middle / posterior height (mm)
  in its mid-sagittal plane along its own axis
  (:mod:`~spine_rt.measure.endplate_fit`), upper and lower endplate tilt and
  wedge angle (deg), wedge ratio (anterior / posterior) and biconcavity
  ratio (middle / posterior), and a Genant-style deformity grade from the
  smaller ratio (:data:`GENANT_GRADES`);
* disc: volume, anterior / middle / posterior height, mean height, disc
  height index (mean height / mean height of the vertebral body above) and
  angle between its endplates; anterior and posterior heights run between
  the corners of the adjacent vertebral bodies where both are measured
  (the standard radiological landmarks), else along the disc's own outline;
* sacrum: volume and the S1 (upper) endplate tilt;
* spine: lumbar lordosis = S1 endplate tilt - L1 upper endplate tilt (deg).

Everything is in mm from the affine (anisotropic voxels, any axis order).
Values that cannot be defined are missing with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spine_rt.anatomy.levels import level_rank, structure_kind
from spine_rt.measure.endplate_fit import FitFailure, Quadrilateral, fit_line, fit_quadrilateral, tilt_deg
from spine_rt.measure.label_components import label_components
from spine_rt.measure.measurement_values import Measurement, SpineMeasurements, StructureMeasurements
from spine_rt.measure.sagittal_section import LEFT_RIGHT_ALIGNMENT, SagittalSection

#: Genant-style grades from the smaller of the wedge and biconcavity ratios: (grade, lowest ratio of the grade)
GENANT_GRADES: tuple[tuple[int, float], ...] = ((0, 0.80), (1, 0.75), (2, 0.60), (3, 0.0))
#: fewest voxels for a structure to be measured
MIN_VOXELS = 20
#: how far below the L5/S disc (or L5) the S1 endplate is looked for (mm)
S1_REACH_MM = 40.0

DEFINITIONS: dict[str, Any] = {
    "plane": "each structure's mid-sagittal plane (the sagittal voxel slice of largest area nearest its centroid)",
    "heights": "anterior/posterior: between the corners where the fitted endplates meet the walls (mm); "
               "middle: the structure's own extent along its axis (bisector of the endplates) at its centre",
    "endplate_tilt": "angle to the scanner's axial plane in the sagittal plane, positive when the anterior end is "
                     "lower (deg); wedge angle = lower tilt - upper tilt, positive when the anterior side is taller",
    "wedge_ratio": "anterior height / posterior height",
    "biconcavity_ratio": "middle height / posterior height",
    "deformity_grade": "Genant-style grade of the smaller ratio: 0 if >= 0.80, 1 (mild) 0.75-0.80, "
                       "2 (moderate) 0.60-0.75, 3 (severe) < 0.60 (20/25/40 % height reduction)",
    "disc_heights": "anterior/posterior between the adjacent vertebral bodies' corners when both are measured, "
                    "else along the disc outline; mean height = (anterior + middle + posterior) / 3",
    "disc_height_index": "disc mean height / mean height of the vertebral body above",
    "lordosis": "S1 upper endplate tilt - L1 upper endplate tilt (deg), positive = lordosis",
}


def genant_grade(ratio: float) -> int:
    """The grade of a height ratio (see :data:`GENANT_GRADES`)."""
    for grade, lowest in GENANT_GRADES:
        if ratio >= lowest:
            return grade
    return GENANT_GRADES[-1][0]


def _cut_axes(box: tuple[slice, ...], shape: tuple[int, ...], affine: np.ndarray) -> tuple[bool, bool]:
    """(cut left-right, cut in-plane): whether the structure touches the grid's faces."""
    directions = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    lateral = in_plane = False
    for axis, (extent, size) in enumerate(zip(box, shape)):
        if extent.start == 0 or extent.stop == size:
            if abs(directions[0, axis]) >= LEFT_RIGHT_ALIGNMENT:
                lateral = True
            else:
                in_plane = True
    return lateral, in_plane


class _Structure:
    """What is known about one label while measuring.

    Args:
        label, name: the label id and its structure name.
        voxels: the label's voxel count; box: its bounding box on the grid.
        largest: ``(mask, box)``: the label's largest 6-connected piece, a bool mask on the whole grid
            that is True only within ``box`` (slices of the grid).
        shape: the grid's ``(I, J, K)``; affine: its 4x4 voxel -> world mm; voxel_mm3: one voxel's volume.
    """

    def __init__(self, label: int, name: str, voxels: int, box: tuple[slice, ...],
                 largest: tuple[np.ndarray, tuple[slice, ...]], shape: tuple[int, ...], affine: np.ndarray,
                 voxel_mm3: float) -> None:
        self.label, self.name, self.kind = label, name, structure_kind(name)
        self.voxels = voxels
        self.volume_mm3 = self.voxels * voxel_mm3
        self.cut_lateral, self.cut_in_plane = _cut_axes(box, shape, affine)
        self.section: SagittalSection | None = None
        self.fit: Quadrilateral | None = None
        self.problem: str | None = None
        if self.voxels < MIN_VOXELS:
            self.problem = f"only {self.voxels} voxels"
            return
        mask, within = largest
        self.section = SagittalSection(mask, affine, within)
        if self.cut_in_plane:
            self.problem = "cut by the field of view"

    def fit_outline(self, spine_direction: np.ndarray | None) -> None:
        """Fit the endplates (vertebrae and discs), starting from the spine's direction here (world, or None)."""
        if self.section is None or self.problem is not None or self.kind not in ("vertebra", "disc"):
            return
        hint = None
        if spine_direction is not None:
            hint = np.array([spine_direction @ self.section.anterior, spine_direction @ self.section.superior])
            hint = hint / np.linalg.norm(hint) if np.linalg.norm(hint) > 1e-9 else None
        try:
            self.fit = fit_quadrilateral(self.section, hint)
        except FitFailure as failure:
            self.problem = f"outline not fitted: {failure}"

    def volume(self) -> Measurement:
        if self.cut_lateral or self.cut_in_plane:
            side = "left-right" if self.cut_lateral else "in the sagittal plane"
            return Measurement.missing("volume", "mm3", f"cut by the field of view ({side}): partial volume")
        return Measurement("volume", self.volume_mm3, "mm3")


def _heights(fit: Quadrilateral | None, reason: str | None) -> list[Measurement]:
    names = ("anterior_height", "middle_height", "posterior_height")
    if fit is None:
        return [Measurement.missing(n, "mm", reason or "not measured") for n in names]
    return [Measurement("anterior_height", fit.anterior_height_mm, "mm"),
            Measurement("middle_height", fit.middle_height_mm, "mm"),
            Measurement("posterior_height", fit.posterior_height_mm, "mm")]


def _vertebra(item: _Structure) -> StructureMeasurements:
    fit, reason = item.fit, item.problem
    values = [item.volume(), *_heights(fit, reason)]
    if fit is None:
        for name, unit in (("upper_endplate_tilt", "deg"), ("lower_endplate_tilt", "deg"), ("wedge_angle", "deg"),
                           ("wedge_ratio", "1"), ("biconcavity_ratio", "1"), ("deformity_grade", "{grade}")):
            values.append(Measurement.missing(name, unit, reason or "not measured"))
        return StructureMeasurements(item.label, item.name, item.kind, tuple(values))
    wedge = fit.anterior_height_mm / fit.posterior_height_mm
    biconcavity = fit.middle_height_mm / fit.posterior_height_mm
    values += [Measurement("upper_endplate_tilt", fit.upper_tilt_deg, "deg"),
               Measurement("lower_endplate_tilt", fit.lower_tilt_deg, "deg"),
               Measurement("wedge_angle", fit.wedge_angle_deg, "deg"),
               Measurement("wedge_ratio", wedge, "1"),
               Measurement("biconcavity_ratio", biconcavity, "1"),
               Measurement("deformity_grade", float(genant_grade(min(wedge, biconcavity))), "{grade}")]
    return StructureMeasurements(item.label, item.name, item.kind, tuple(values))


def _mean_height(fit: Quadrilateral) -> float:
    return (fit.anterior_height_mm + fit.middle_height_mm + fit.posterior_height_mm) / 3.0


def _disc(item: _Structure, by_name: Mapping[str, _Structure]) -> StructureMeasurements:
    above_name, _, below_name = item.name.partition("/")
    above, below = by_name.get(above_name), by_name.get(below_name)
    fit, reason = item.fit, item.problem
    notes: list[str] = []
    values = [item.volume()]
    if fit is None:
        values += _heights(None, reason)
        values += [Measurement.missing("mean_height", "mm", reason or "not measured"),
                   Measurement.missing("angle", "deg", reason or "not measured")]
    else:
        anterior, posterior = fit.anterior_height_mm, fit.posterior_height_mm
        angle = fit.wedge_angle_deg
        if above is not None and above.fit is not None and below is not None and below.fit is not None:
            anterior = float(np.linalg.norm(above.fit.lower_anterior - below.fit.upper_anterior))
            posterior = float(np.linalg.norm(above.fit.lower_posterior - below.fit.upper_posterior))
            angle = below.fit.upper_tilt_deg - above.fit.lower_tilt_deg
            notes.append(f"anterior/posterior heights and angle between the corners of {above_name} and {below_name}")
        else:
            notes.append("anterior/posterior heights and angle along the disc's own outline")
        mean = (anterior + fit.middle_height_mm + posterior) / 3.0
        values += [Measurement("anterior_height", anterior, "mm"),
                   Measurement("middle_height", fit.middle_height_mm, "mm"),
                   Measurement("posterior_height", posterior, "mm"),
                   Measurement("mean_height", mean, "mm"),
                   Measurement("angle", angle, "deg")]
    if fit is None:
        values.append(Measurement.missing("disc_height_index", "1", reason or "not measured"))
    elif above is None:
        values.append(Measurement.missing("disc_height_index", "1", f"vertebra above ({above_name}) not labelled"))
    elif above.fit is None:
        values.append(Measurement.missing("disc_height_index", "1",
                                          f"vertebra above ({above_name}) not measured: {above.problem}"))
    else:
        disc_mean = next(m.value for m in values if m.name == "mean_height")
        values.append(Measurement("disc_height_index", disc_mean / _mean_height(above.fit), "1"))
    return StructureMeasurements(item.label, item.name, item.kind, tuple(values), tuple(notes))


def _s1_tilt(sacrum: _Structure, by_name: Mapping[str, _Structure]) -> Measurement:
    """The S1 endplate: rays down from the L5/S disc (or L5) into the sacrum, a line fitted to the entry points."""
    if sacrum.section is None:
        return Measurement.missing("s1_endplate_tilt", "deg", sacrum.problem or "not measured")
    above = next((s for s in by_name.values() if s.kind == "disc" and s.name.endswith(f"/{sacrum.name}")), None)
    if above is None or above.fit is None:
        above = by_name.get("L5")
    if above is None or above.fit is None:
        return Measurement.missing("s1_endplate_tilt", "deg", "neither the L5/S disc nor L5 measured above the sacrum")
    fit = above.fit
    fractions = np.linspace(0.1, 0.9, 17)[:, None]
    origins = fit.lower_posterior + fractions * (fit.lower_anterior - fit.lower_posterior) + 0.5 * fit.axis
    distances = sacrum.section.distance_to_boundary(origins, -fit.axis, S1_REACH_MM, entering=True)
    try:
        line = fit_line(origins - distances[:, None] * fit.axis, fit.depth_axis)
    except FitFailure as failure:
        return Measurement.missing("s1_endplate_tilt", "deg", f"S1 endplate not found: {failure}")
    return Measurement("s1_endplate_tilt", tilt_deg(line.direction), "deg")


def measure_spine(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str]) -> SpineMeasurements:
    """Measure every vertebra, disc and the sacrum of a label map (see the module docstring).

    Args:
        labels: ``(I, J, K)`` integer label map (any orientation).
        affine: 4x4 voxel -> RAS+ world mm.
        names: label id -> structure name (MRSpineSeg style: ``"L3"``, ``"L3/L4"``, ``"S"``).

    Returns:
        :class:`SpineMeasurements`, structures in label order.

    Raises:
        ValueError: a label map that is not 3D, or an affine that is not 4x4 and invertible.
    """
    labels = np.asarray(labels)
    affine = np.asarray(affine, dtype=np.float64)
    if labels.ndim != 3:
        raise ValueError(f"a label map for measurements must be 3D, got shape {labels.shape}")
    if affine.shape != (4, 4) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ValueError("the affine must be an invertible 4x4 matrix")
    voxel_mm3 = float(abs(np.linalg.det(affine[:3, :3])))
    items = [_Structure(label, names.get(label, f"label {label}"), voxels, box, largest, labels.shape, affine,
                        voxel_mm3)
             for label, voxels, box, largest in _labelled_structures(labels)]
    by_name = {item.name: item for item in items}
    _fit_along_the_spine(items)

    results = []
    for item in items:
        if item.kind == "vertebra":
            results.append(_vertebra(item))
        elif item.kind == "disc":
            results.append(_disc(item, by_name))
        elif item.kind == "sacrum":
            results.append(StructureMeasurements(item.label, item.name, item.kind,
                                                 (item.volume(), _s1_tilt(item, by_name))))
        else:
            results.append(StructureMeasurements(item.label, item.name, item.kind, (item.volume(),)))
    return SpineMeasurements(tuple(results), (_lordosis(results, by_name),), dict(DEFINITIONS))


def _labelled_structures(labels: np.ndarray):
    """``(label, voxels, box, (largest piece mask, its box))`` of every label > 0 present, in label order.

    One multi-label connected-component pass (:func:`~spine_rt.measure.label_components.label_components`,
    6-connected as SciPy's default) gives every label's pieces, sizes and boxes at once.
    """
    found = label_components(labels, connectivity=6)  # InputError (a ValueError) on a bad label map
    if found.count == 0:
        return
    owner, sizes, extents = found.owner[1:], found.sizes[1:], found.extents[1:]
    order = np.lexsort((np.arange(found.count), -sizes, owner))  # by label, largest first, then raster order
    starts = np.flatnonzero(np.r_[True, np.diff(owner[order]) != 0])
    for start, stop in zip(starts, np.r_[starts[1:], order.size]):
        members = order[start:stop]
        label = int(owner[members[0]])
        low, high = extents[members][:, 0::2].min(axis=0), extents[members][:, 1::2].max(axis=0)
        box = tuple(slice(int(a), int(b) + 1) for a, b in zip(low, high))
        piece = int(members[0]) + 1
        within = found.box(piece)
        mask = np.zeros(labels.shape, bool)  # untouched (zero) pages outside ``within`` cost nothing
        mask[within] = found.pieces[within] == piece
        yield label, int(sizes[members].sum()), box, (mask, within)


def _fit_along_the_spine(items: list[_Structure]) -> None:
    """Fit every vertebra and disc, each starting from the direction between its labelled neighbours."""
    placed = sorted(((level_rank(item.name), item) for item in items
                     if item.section is not None and level_rank(item.name) is not None), key=lambda pair: pair[0])
    for rank, item in placed:
        below = [other for r, other in placed if r < rank]
        above = [other for r, other in placed if r > rank]
        low = below[-1].section.centroid if below else item.section.centroid
        high = above[0].section.centroid if above else item.section.centroid
        direction = high - low
        item.fit_outline(direction if np.linalg.norm(direction) > 1e-6 else None)
    for item in items:
        if item.fit is None and item.problem is None and level_rank(item.name) is None:
            item.fit_outline(None)


def _lordosis(results: list[StructureMeasurements], by_name: Mapping[str, _Structure]) -> Measurement:
    l1 = next((r for r in results if r.name == "L1"), None)
    sacrum = next((r for r in results if r.kind == "sacrum"), None)
    if l1 is None:
        return Measurement.missing("lordosis_l1_s1", "deg", "L1 not labelled")
    if sacrum is None:
        return Measurement.missing("lordosis_l1_s1", "deg", "sacrum not labelled")
    upper, s1 = l1.get("upper_endplate_tilt"), sacrum.get("s1_endplate_tilt")
    if upper is None or upper.value is None:
        return Measurement.missing("lordosis_l1_s1", "deg", f"L1 upper endplate not measured: "
                                   f"{upper.missing_reason if upper else 'no value'}")
    if s1 is None or s1.value is None:
        return Measurement.missing("lordosis_l1_s1", "deg", f"S1 endplate not measured: "
                                   f"{s1.missing_reason if s1 else 'no value'}")
    return Measurement("lordosis_l1_s1", s1.value - upper.value, "deg")
