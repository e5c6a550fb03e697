"""spine_rt.measure: what a label map says in numbers.

* :func:`structures_found` - per structure voxel (pixel) counts and volumes
  in mm3 (areas in mm2 for X-ray maps).
* :func:`measure_lumbar_parameters` -> :class:`LumbarMeasurement`: the 18
  lumbar/pelvic inspection values of a lateral X-ray mask (SS, PT, PI, LL,
  L4S1, LDI, RLL, PI-LL, L1..L5, L1L2..L5S1), measured on fitted endplates,
  S1 endplate and femoral-head circles with the definitions of
  :mod:`spine_rt.anatomy.lumbar_parameters`, flagged against the normal ranges
  (:data:`NORMAL_RANGES`).
* :func:`fit_lumbar_landmarks` -> :class:`LumbarLandmarks`: the fitted
  geometry alone (pixels), e.g. for drawing.
* :func:`measure_spine` -> :class:`SpineMeasurements`: spine MR vertebral
  body and disc heights (mm), endplate angles, Genant-style ratios, disc
  height index, volumes and lordosis, each a :class:`Measurement` (value and
  unit, or missing with the reason); ``docs/measurements.md``.
* :func:`check_levels` / :func:`relabel_levels`: the level naming checked
  along the spine, and recounted from the sacrum; :func:`read_spine` runs
  both and the measurements (what every spine MR report carries).
* :mod:`spine_rt.measure.qc_picture` - QC pictures (MR slices, X-ray with
  landmarks); imports pillow when called.

Importing this package needs numpy and scipy only.
"""

from __future__ import annotations

from spine_rt.measure.level_check import LevelCheck, check_levels
from spine_rt.measure.level_relabel import LevelRelabel, relabel_levels
from spine_rt.measure.lumbar_landmarks import LumbarLandmarks, VertebraLandmarks, fit_lumbar_landmarks
from spine_rt.measure.lumbar_measurement import LumbarMeasurement, measure_lumbar_parameters
from spine_rt.measure.normal_ranges import NORMAL_RANGES, flag_value, flagged_values
from spine_rt.measure.measurement_values import Measurement, SpineMeasurements, StructureMeasurements
from spine_rt.measure.spine_measurements import GENANT_GRADES, genant_grade, measure_spine
from spine_rt.measure.spine_reading import SpineReading, read_spine
from spine_rt.measure.structure_sizes import structures_found

__all__ = [
    "GENANT_GRADES",
    "LevelCheck",
    "LevelRelabel",
    "Measurement",
    "SpineMeasurements",
    "SpineReading",
    "StructureMeasurements",
    "check_levels",
    "genant_grade",
    "measure_spine",
    "read_spine",
    "relabel_levels",
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
