"""The schedules of the spine MR pipeline: how the two stages run over a prepared volume.

* :mod:`~spine_rt.pipelines.schedules.fast` - the fast schedule, one slab loop on numpy arrays or
  torch tensors on a device (one or two CUDA streams: :mod:`~spine_rt.pipelines.schedules.lanes`);
* :mod:`~spine_rt.pipelines.schedules.reference` - the authors' schedule, the baseline;
* their parts: :mod:`~.stage_one`, :mod:`~.stage_two` (with the fusion), :mod:`~.roi` (which
  windows run), :mod:`~.slabs` (which work runs in which slab), :mod:`~.maps` and
  :mod:`~.sampling` (stage one's maps on stage two's grids), :mod:`~.prediction` (the result, TTA).

The splitter (patch grids) and the mergers (stitching) are :mod:`spine_rt.patching`'s.
"""

from __future__ import annotations

from spine_rt.pipelines.schedules.fast import FastSchedule
from spine_rt.pipelines.schedules.prediction import GridPrediction
from spine_rt.pipelines.schedules.reference import ReferenceSchedule, ReferenceWindows

__all__ = ["FastSchedule", "GridPrediction", "ReferenceSchedule", "ReferenceWindows"]
