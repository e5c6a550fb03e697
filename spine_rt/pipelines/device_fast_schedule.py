"""The fast schedule with the volume, stage-one maps, feeds, softmax and stitching on the device.

:class:`DeviceFastSchedule` computes what :class:`~spine_rt.pipelines.fast_schedule.FastSchedule`
computes (stage one once per slice with the same 2D windows and batches,
fold averaging, the ROI of stage one's foreground dilated by
``roi_margin_mm``, stage-two windows of the same plan touching it, the same
feeds, softmax, Gaussian blending, fusion, argmax) with torch tensors on the
runners' device (CPU or CUDA), and returns the same
:class:`~spine_rt.pipelines.grid_prediction.GridPrediction`. Runners must
take torch tensors (:class:`~spine_rt.runtime.TorchRunner`,
:class:`~spine_rt.runtime.TensorRTRunner`).

The work is cut into slabs along ``X`` (:class:`~spine_rt.pipelines.slab_plan.SlabPlan`)
and queued as::

    upload 0, stage one 0
    for k: upload k+1, stage one k+1  |  (ROI of slab k on the host)  |  stage two k
    join; results to the host (the one synchronisation)

* ``two_streams`` on a CUDA device (:class:`~spine_rt.pipelines.stream_lanes.StreamLanes`):
  uploads from a pinned copy of the volume (``non_blocking``) on a copy
  stream, stage one on a second stream, stage two on a third, ordered by
  events only; stage one of slab ``k + 1`` is queued before stage two of
  slab ``k``, so the GPU runs them side by side. With the ROI on, the host
  waits for one *event* per slab (stage one's foreground of that slab,
  copied to pinned memory) before choosing the slab's stage-two windows; it
  never calls ``torch.cuda.synchronize``.
* ``two_streams=False``: one stream (on CUDA a dedicated one, never the
  legacy default stream; the host still waits for each slab's foreground
  event), slab by slab: stage one of slab ``k``, then its stage two. ``two_streams=True`` on the
  CPU queues in the two-stream order (stage one one slab ahead) on null
  stream contexts, which is how that order is tested without a GPU.
* ``sliced=False``: one slab (stage one over everything, then stage two): the
  unsliced order, to compare against.

The ROI dilation runs on the host (:mod:`~spine_rt.pipelines.stage_one_roi_band`)
and gives the host schedule's mask. Blending divides the accumulated
``sum w*p`` by ``sum w`` instead of summing ``(w / sum w) * p``: equal up to
float rounding (about 1e-7), so probabilities match the host schedule to
``atol=1e-5`` and labels except at exact ties.

Memory on the device: the volume, stage one's maps at their resolutions, a
``(C, X, Y, Z)`` float32 accumulator (which becomes the fused probabilities)
and an ``(X, Y, Z)`` weight sum; the host schedule's bounded-memory
labels-only path has no counterpart here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.pipelines.fast_schedule import network_minimum_shape, network_size_multiple
from spine_rt.pipelines.grid_prediction import GridPrediction
from spine_rt.pipelines.slab_plan import SlabPlan, roi_margin_rows
from spine_rt.pipelines.stage_runners import StageRunners


@dataclass(frozen=True)
class DeviceFastSchedule:
    """Settings of the device fast schedule (see the module docstring).

    Attributes:
        stage_one / stage_two / resolution_factor / stage_one_spacing_mm /
        stage_one_batch_size / stage_two_batch_size / roi / roi_margin_mm /
        overlap: as :class:`~spine_rt.pipelines.fast_schedule.FastSchedule`.
        device: where the tensors live, ``"cpu"`` or ``"cuda:N"`` (the runners' device).
        two_streams: stage one (one slab ahead) and stage two on two CUDA streams; on the CPU the
            same queue order, run in order.
        sliced: cut the work into slabs along ``X`` (``False``: one slab).
    """

    stage_one: StageRunners
    stage_two: StageRunners
    resolution_factor: int
    stage_one_spacing_mm: tuple[float, float, float]
    stage_one_batch_size: int
    stage_two_batch_size: int
    roi: bool
    roi_margin_mm: float
    overlap: float
    device: str = "cpu"
    two_streams: bool = False
    sliced: bool = True
    #: the lanes' CUDA streams, made on the first prediction and reused (see ``StreamLanes``)
    streams: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    name = "fast"

    @classmethod
    def like(cls, host: Any, device: str, two_streams: bool, sliced: bool = True) -> DeviceFastSchedule:
        """The device schedule with the settings of a :class:`~spine_rt.pipelines.fast_schedule.FastSchedule`."""
        return cls(host.stage_one, host.stage_two, host.resolution_factor, host.stage_one_spacing_mm,
                   host.stage_one_batch_size, host.stage_two_batch_size, host.roi, host.roi_margin_mm, host.overlap,
                   device, two_streams, sliced)

    @property
    def size_multiple(self) -> tuple[int, int, int]:
        """As the host schedule's (:func:`~spine_rt.pipelines.fast_schedule.network_size_multiple`)."""
        return network_size_multiple(self.resolution_factor)

    @property
    def minimum_shape(self) -> tuple[int, int, int]:
        """The network volume holds at least one stage-two patch."""
        return network_minimum_shape(self.stage_two)

    @property
    def pipelining(self) -> str:
        """``"two-stream"`` or ``"sequential"`` (for reports)."""
        return "two-stream" if self.two_streams else "sequential"

    def plan(self, shape: tuple[int, int, int]) -> SlabPlan:
        """The slab plan for a prepared volume of ``shape`` ``(X, Y, Z)``."""
        margin = roi_margin_rows(self.roi_margin_mm, self.stage_one_spacing_mm[0]) if self.roi else None
        return SlabPlan.build(shape, self.resolution_factor, self.stage_one.patch_size, self.stage_two.patch_size,
                              self.stage_one_batch_size, self.stage_two_batch_size, self.overlap, margin,
                              sliced=self.sliced)

    def predict(self, volume: np.ndarray, keep_probabilities: bool = True, *,
                trace: list[tuple[str, int]] | None = None) -> GridPrediction:
        """Probabilities ``(C, X, Y, Z)`` (or only labels) for a prepared volume ``(X, Y, Z)``.

        Args:
            volume: ``(X, Y, Z)`` float32 normalised MR on the network grid.
            keep_probabilities: return the fused probabilities (labels are then
                their argmax, as with the host schedule); else only the labels.
            trace: if given, receives ``(step, slab)`` in the order the work was queued
                (``"upload"``, ``"stage_one"``, ``"stage_two"``).

        Raises:
            InputError: a volume smaller than a stage-two patch or of the wrong in-plane size,
                or runner outputs that do not fit.
        """
        from spine_rt.pipelines import device_prediction

        return device_prediction.predict(self, volume, keep_probabilities, trace)
