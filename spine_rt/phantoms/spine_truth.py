"""The exact heights and angles of a phantom spine, with the definitions of :mod:`spine_rt.measure`.

A phantom's vertebral bodies and discs are quadrilaterals between endplates
(:mod:`~spine_rt.phantoms.spine_shape`), so every measurement is known
exactly:

* anterior / posterior height: the distance between the anterior
  (posterior) ends of the upper and lower endplate (mm);
* middle height: the length of the chord through the centre of the four
  corners, along the bisector of the two endplates' normals, between the
  endplate lines (mm);
* endplate tilt: the angle of an endplate to the scanner's axial plane,
  seen in the sagittal plane, positive when its anterior end is lower
  (degrees); wedge angle = lower tilt - upper tilt;
* lordosis: S1 endplate tilt - L1 upper endplate tilt (degrees).

Tilts depend on where the spine lies in the world: :func:`true_geometry`
takes the phantom and an optional rigid ``world`` transform applied after
the phantom's own affine (e.g. a rotation used to test oblique grids).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from spine_rt.anatomy.label_tables import DISC_LABEL, VERTEBRA_LABEL

if TYPE_CHECKING:
    from spine_rt.phantoms.spine_mr import SpinePhantom
    from spine_rt.anatomy.endplates import Endplate


def _chord_through_centre(corners: np.ndarray) -> float:
    """``corners`` = upper anterior, upper posterior, lower anterior, lower posterior ``(4, 2)``."""
    upper = corners[0] - corners[1]
    lower = corners[2] - corners[3]
    depth_axis = upper / np.linalg.norm(upper) + lower / np.linalg.norm(lower)
    depth_axis /= np.linalg.norm(depth_axis)
    axis = np.array([-depth_axis[1], depth_axis[0]])
    centre = corners.mean(axis=0)

    def meet(point: np.ndarray, direction: np.ndarray) -> np.ndarray:
        matrix = np.column_stack([axis, -direction])
        along = np.linalg.solve(matrix, point - centre)
        return centre + along[0] * axis

    return float(np.linalg.norm(meet(corners[1], upper) - meet(corners[3], lower)))


def _tilt(anterior: np.ndarray, posterior: np.ndarray) -> float:
    vector = anterior - posterior
    return math.degrees(math.atan2(-float(vector[1]), float(vector[0])))


def true_geometry(phantom: SpinePhantom, world: np.ndarray | None = None) -> dict[str, object]:
    """The exact measurements of ``phantom`` (see the module docstring).

    Args:
        phantom: a :class:`~spine_rt.phantoms.spine_mr.SpinePhantom`.
        world: optional 4x4 rigid transform applied after the phantom's affine
            (``None``: the phantom's own world).

    Returns:
        ``{"structures": {label id: {"anterior_height_mm", "middle_height_mm",
        "posterior_height_mm", "upper_tilt_deg", "lower_tilt_deg",
        "wedge_angle_deg"}}, "s1_tilt_deg": float, "lordosis_deg": float}``;
        label ids are the MRSpineSeg ids (vertebrae T9-L5, discs T9/T10-L5/S1;
        the sacrum's entry holds only its upper (S1) endplate tilt).
    """
    transform = phantom.affine if world is None else np.asarray(world, dtype=np.float64) @ phantom.affine
    sx, sy, sz = phantom.spacing

    def to_plane(point: tuple[float, float]) -> np.ndarray:
        voxel = np.array([phantom.midline_mm / sx, point[1] / sy, point[0] / sz, 1.0])
        position = transform @ voxel
        return position[1:3]  # world anterior (y) and superior (z)

    def corners(upper: Endplate, lower: Endplate) -> np.ndarray:
        return np.array([to_plane(upper.anterior), to_plane(upper.posterior),
                         to_plane(lower.anterior), to_plane(lower.posterior)])

    structures: dict[int, dict[str, float]] = {}
    spine = phantom.spine
    for element, label in ([(body, VERTEBRA_LABEL.get(body.name)) for body in spine.vertebrae]
                           + [(disc, DISC_LABEL.get(disc.name)) for disc in spine.discs]):
        if not label:
            continue
        points = corners(element.upper, element.lower)
        upper_tilt, lower_tilt = _tilt(points[0], points[1]), _tilt(points[2], points[3])
        structures[label] = {
            "anterior_height_mm": float(np.linalg.norm(points[0] - points[2])),
            "middle_height_mm": _chord_through_centre(points),
            "posterior_height_mm": float(np.linalg.norm(points[1] - points[3])),
            "upper_tilt_deg": upper_tilt,
            "lower_tilt_deg": lower_tilt,
            "wedge_angle_deg": lower_tilt - upper_tilt,
        }
    s1 = spine.s1_endplate
    s1_tilt = _tilt(to_plane(s1.anterior), to_plane(s1.posterior))
    structures[VERTEBRA_LABEL["S1"]] = {"upper_tilt_deg": s1_tilt}
    l1 = structures[VERTEBRA_LABEL["L1"]]["upper_tilt_deg"]
    return {"structures": structures, "s1_tilt_deg": s1_tilt, "lordosis_deg": s1_tilt - l1}
