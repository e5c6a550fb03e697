"""spine_rt.measure: what a label map says in numbers.

* :func:`structures_found` - per structure voxel (pixel) counts and volumes
  in mm3 (areas in mm2 for X-ray maps).
* :func:`measure_lumbar_parameters` -> :class:`LumbarMeasurement`: the 18
  lumbar/pelvic inspection values of a lateral X-ray mask (SS, PT, PI, LL,
  L4S1, LDI, RLL, PI-LL, L1..L5, L1L2..L5S1), measured on fitted endplates,
  S1 endplate and femoral-head circles with the definitions of
  :mod:`spine_rt.phantoms.xray_geometry`, flagged against the normal ranges
  (:data:`NORMAL_RANGES`).
* :func:`fit_lumbar_landmarks` -> :class:`LumbarLandmarks`: the fitted
  geometry alone (pixels), e.g. for drawing.
* :mod:`spine_rt.measure.qc_picture` - QC pictures (MR slices, X-ray with
  landmarks); imports pillow when called.

Importing this package needs numpy and scipy only.
"""

from __future__ import annotations

from spine_rt.measure.lumbar_landmarks import LumbarLandmarks, VertebraLandmarks, fit_lumbar_landmarks
from spine_rt.measure.lumbar_measurement import LumbarMeasurement, measure_lumbar_parameters
from spine_rt.measure.normal_ranges import NORMAL_RANGES, flag_value, flagged_values
from spine_rt.measure.structure_sizes import structures_found

__all__ = [
    "NORMAL_RANGES",
    "LumbarLandmarks",
    "LumbarMeasurement",
    "VertebraLandmarks",
    "fit_lumbar_landmarks",
    "flag_value",
    "flagged_values",
    "measure_lumbar_parameters",
    "structures_found",
]
