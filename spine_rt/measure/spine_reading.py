"""What the spine MR pipeline adds to every label map: level naming (checked, optionally recounted) and measurements.

:func:`read_spine` runs, on the labels in the scan's own geometry:

1. :func:`~spine_rt.measure.level_relabel.relabel_levels` - the count from
   the anchor; with ``relabel=True`` names that disagree with it are
   rewritten (never for a possible transitional anatomy), with
   ``relabel=False`` the disagreements are only reported;
2. :func:`~spine_rt.measure.level_check.check_levels` on the final labels;
3. :func:`~spine_rt.measure.spine_measurements.measure_spine`.

Every disagreement and inconsistency is in ``level_naming["flags"]``: an
off-by-one is either fixed (and listed in ``renamed``) or flagged, never
silent.

The measurements of the labels as given run on a worker thread while the
naming runs (both spend much of their time in NumPy, which releases the
GIL); when the recount rewrites a name they are measured again on the
final labels, so the result is always that of the final labels.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.measure.level_check import check_levels
from spine_rt.measure.level_relabel import relabel_levels
from spine_rt.measure.level_sequence import spine_pieces
from spine_rt.measure.measurement_values import SpineMeasurements
from spine_rt.measure.spine_measurements import measure_spine

#: relabelling is off by default: with the bundled model it no longer wins on the unseen phantoms
#: (mean Dice 0.891 without, 0.890 with on seeds 2000-2019; docs/demo_model.md). It was on while it won
#: (0.842 -> 0.854 with the previous model). Off, the count's disagreements are still reported and flagged.
DEFAULT_RELABEL_LEVELS = False


@dataclass(frozen=True)
class SpineReading:
    """The result of :func:`read_spine`.

    Attributes:
        labels: ``(I, J, K)`` final labels (relabelled when asked; else the input array itself).
        level_naming: the report section (anchor, renamed, levels, flags, consistent).
        measurements: per structure and whole-spine measurements.
        seconds: ``{"level_naming", "measurements"}`` wall time (s) of each (they overlap: see the module
            docstring).
    """

    labels: np.ndarray
    level_naming: dict[str, Any]
    measurements: SpineMeasurements
    seconds: dict[str, float]


def read_spine(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str],
               probabilities: np.ndarray | None = None, relabel: bool = DEFAULT_RELABEL_LEVELS) -> SpineReading:
    """Level naming and measurements of one label map (see the module docstring).

    Args:
        labels: ``(I, J, K)`` integer labels; affine: 4x4 voxel -> RAS+ mm; names: label id -> name.
        probabilities: optional ``(C, I, J, K)`` network probabilities on the same grid (per-level confidence).
        relabel: rewrite names that disagree with the count.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="spine-rt-measure") as worker:
        measuring = worker.submit(_timed_measurements, labels, affine, names)
        clock = time.perf_counter()
        found = spine_pieces(labels, affine, names)  # shared by the count and the check while the labels stay
        recount = relabel_levels(labels, affine, names, probabilities, rewrite=relabel, pieces=found)
        final = recount.labels if relabel else labels
        changed = final is not labels and bool(recount.renamed)
        check = check_levels(final, affine, names, probabilities, pieces=None if changed else found)
        naming_seconds = time.perf_counter() - clock
        measurements, measuring_seconds = measuring.result()
    if changed:  # the recount rewrote names: measure what is returned
        measurements, measuring_seconds = _timed_measurements(final, affine, names)
    flags = [f.as_dict() for f in check.flags] + [f.as_dict() for f in recount.flags]
    level_naming = {
        "relabel_levels": bool(relabel),
        "consistent": not flags,
        "anchor": recount.anchor,
        "renamed": recount.renamed if relabel and not recount.transitional else [],
        "transitional_anatomy_possible": recount.transitional,
        "levels": check.levels,
        "flags": flags,
    }
    return SpineReading(final, level_naming, measurements,
                        {"level_naming": naming_seconds, "measurements": measuring_seconds})


def _timed_measurements(labels: np.ndarray, affine: np.ndarray,
                        names: Mapping[int, str]) -> tuple[SpineMeasurements, float]:
    clock = time.perf_counter()
    measurements = measure_spine(labels, affine, names)
    return measurements, time.perf_counter() - clock
