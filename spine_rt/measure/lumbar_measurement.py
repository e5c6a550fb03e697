"""The 18 lumbar/pelvic inspection values measured on an X-ray label map.

:func:`measure_lumbar_parameters` fits the landmarks
(:func:`~spine_rt.measure.lumbar_landmarks.fit_lumbar_landmarks`) and
computes every value with the definitions and signs of
:mod:`spine_rt.anatomy.lumbar_parameters` (the same functions that give the
phantoms their exact values). A value whose landmarks are missing (a level
not found, no sacrum, no femoral head) is None; the others are still given.
With a known, non-square pixel spacing the landmarks are first scaled to mm
so the angles are true angles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.anatomy.endplates import Endplate
from spine_rt.anatomy.levels import LUMBAR_LEVELS
from spine_rt.anatomy.lumbar_parameters import lumbar_parameters
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.measure.lumbar_landmarks import LumbarLandmarks, fit_lumbar_landmarks
from spine_rt.measure.normal_ranges import flagged_values

_NAN = math.nan
#: stands in for a missing landmark: every value depending on it becomes NaN
_MISSING_ENDPLATE = Endplate((_NAN, _NAN), (_NAN, _NAN))

METHOD = ("vertebrae sorted top to bottom; endplates: robust lines on each body's top/bottom envelope in its "
          "minimum-area-rectangle frame; S1: top edge of the sacrum between its extreme anterior/posterior upper "
          "pixels; femoral heads: least-squares circles, hip axis = midpoint of their centres; definitions of "
          "spine_rt.anatomy.lumbar_parameters")


@dataclass(frozen=True)
class LumbarMeasurement:
    """The fitted landmarks (pixels) and the 18 values (degrees, LDI in %; None = not measurable)."""

    landmarks: LumbarLandmarks
    values: dict[str, float | None]
    pixel_spacing_mm: tuple[float, float] | None = None

    def report(self) -> dict[str, Any]:
        """Plain JSON: the values flagged against the normal ranges, facing, levels found, notes."""
        return {
            "method": METHOD,
            "facing": self.landmarks.facing,
            "facing_from": self.landmarks.facing_from,
            "levels_found": [v.level for v in self.landmarks.vertebrae],
            "angles_in": "mm (pixel spacing applied)" if self.pixel_spacing_mm is not None else "pixels",
            "values": flagged_values(self.values),
            "notes": list(self.landmarks.notes),
        }


def parameters_from_landmarks(landmarks: LumbarLandmarks) -> dict[str, float | None]:
    """The 18 values in :data:`INSPECTION_VALUE_NAMES` from fitted landmarks (None where a landmark is missing)."""
    pairs = []
    for level in LUMBAR_LEVELS:
        found = landmarks.vertebra(level)
        pairs.append((found.upper, found.lower) if found is not None else (_MISSING_ENDPLATE, _MISSING_ENDPLATE))
    s1 = landmarks.s1_endplate if landmarks.s1_endplate is not None else _MISSING_ENDPLATE
    hip = landmarks.hip_axis if landmarks.hip_axis is not None else (_NAN, _NAN)
    values = lumbar_parameters(pairs, s1, hip).as_dict()
    return {name: (float(values[name]) if math.isfinite(values[name]) else None) for name in INSPECTION_VALUE_NAMES}


def measure_lumbar_parameters(labels: np.ndarray,
                              pixel_spacing_mm: Sequence[float] | None = None) -> LumbarMeasurement:
    """Fit the landmarks of ``labels`` and compute the 18 inspection values.

    Args:
        labels: ``(H, W)`` X-ray label map (classes of :data:`spine_rt.anatomy.label_tables.XRAY_LABELS`).
        pixel_spacing_mm: ``(row, column)`` spacing in mm, or None (square pixels assumed).

    Raises:
        ValueError: ``labels`` not 2D, or a spacing that is not two positive numbers.
    """
    spacing = None
    if pixel_spacing_mm is not None:
        spacing = tuple(float(s) for s in pixel_spacing_mm)
        if len(spacing) != 2 or not all(math.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"pixel spacing must be (row, column) positive mm, got {pixel_spacing_mm!r}")
    landmarks = fit_lumbar_landmarks(labels, pixel_aspect=1.0 if spacing is None else spacing[0] / spacing[1])
    measured = landmarks if spacing is None else landmarks.scaled(column_factor=spacing[1], row_factor=spacing[0])
    with np.errstate(invalid="ignore"):
        values = parameters_from_landmarks(measured)
    return LumbarMeasurement(landmarks, values, spacing)  # type: ignore[arg-type]
