"""The fast schedule: stage one once per slice, stage two only near the spine, fusion - in one slab loop.

For a normalised volume ``(X, Y, Z)`` on the full-resolution model grid:

1. stage one (:class:`~spine_rt.pipelines.schedules.stage_one.StageOne`) on
   every slice once, on ``f x f`` block means (``f = 2``), batched, every fold;
2. region of interest = stage one's foreground (fold mean) dilated by
   ``roi_margin_mm`` (:mod:`~spine_rt.pipelines.schedules.roi`; everything
   with ``roi=False``);
3. stage two (:class:`~spine_rt.pipelines.schedules.stage_two.StageTwo`) over
   the windows touching the ROI, Gaussian blending, window starts aligned to
   the stage-one feature grid;
4. fusion: stage two where a window ran, stage one elsewhere, then argmax,
   row block by row block as soon as no window can change a row (with only
   labels kept, the ``(C, X, Y, Z)`` volume is never held whole).

The work is cut into slabs of rows along ``X``
(:class:`~spine_rt.pipelines.schedules.slabs.SlabPlan`): slab ``k`` runs the
stage-one batches that make its rows final, then the stage-two windows that
read only final rows. The same loop runs on numpy arrays (``device=None``:
the host) or on torch tensors on the runners' device; there the work is
queued on :class:`~spine_rt.pipelines.schedules.lanes.StreamLanes`::

    upload k, stage one k            (lanes "copy", "one")
    host: wait for slab k's foreground event, choose its stage-two windows
    stage two k, fusion and argmax    (lane "two")

With ``lanes=2`` slab ``k + 1``'s upload and stage one are queued before slab
``k``'s stage two, so on a CUDA device stage one and stage two run side by
side on two streams ordered by events only; the one wait for the device is
reading the results after the loop. On numpy and CPU tensors the lanes are
null contexts: the same calls in the same order, one after the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.patching.array_backend import backend_for
from spine_rt.pipelines.schedules.maps import full_resolution_rows
from spine_rt.pipelines.schedules.prediction import GridPrediction
from spine_rt.pipelines.schedules.roi import windows_in_roi
from spine_rt.pipelines.schedules.slabs import SlabPlan, roi_margin_rows
from spine_rt.pipelines.schedules.stage_one import STAGE_ONE_FEATURE_STRIDE, StageOne
from spine_rt.pipelines.schedules.stage_two import FUSION_SLAB_ROWS, LABEL_ROWS_PER_STEP, Fusion, StageTwo
from spine_rt.pipelines.schedules.batch_memory import fit_batch, window_bytes
from spine_rt.pipelines.stage_runners import StageRunners, pair_folds


@dataclass(frozen=True)
class FastSchedule:
    """Settings of the fast schedule (see the module docstring).

    Attributes:
        stage_one / stage_two: the runners.
        resolution_factor: ``f``, full-resolution voxels per stage-one voxel in-plane.
        stage_one_spacing_mm: stage one's voxel size (for the ROI margin).
        stage_one_batch_size / stage_two_batch_size: windows per call.
        roi: run stage two only near stage one's foreground.
        roi_margin_mm: dilation of the foreground (mm).
        overlap: overlap of stage-two windows (fraction of the patch).
        host_threads: numpy: blend stage one's outputs, build stage two's inputs and blend its outputs on
            worker threads beside the network calls.
        device: ``None``: numpy arrays on the host; else torch tensors on this device (the runners').
        lanes: 2: stage one one slab ahead of stage two (two CUDA streams on a CUDA device).
        sliced: cut the work into slabs along ``X`` (``False``: one slab).
        maps_dtype: ``"float32"`` or ``"float16"``: the dtype stage one's maps are held in
            (:data:`~spine_rt.pipelines.schedules.stage_one.MAPS_DTYPES`).
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
    host_threads: bool = True
    device: str | None = None
    lanes: int = 1
    sliced: bool = True
    maps_dtype: str = "float32"
    #: the lanes' CUDA streams, made on the first prediction and reused (see ``StreamLanes``)
    streams: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    name = "fast"

    @property
    def size_multiple(self) -> tuple[int, int, int]:
        """In-plane sizes of the network volume are multiples of this (stage-one feature voxels tile it)."""
        step = self.resolution_factor * STAGE_ONE_FEATURE_STRIDE
        return (step, step, 1)

    @property
    def minimum_shape(self) -> tuple[int, int, int]:
        """The network volume holds at least one stage-two patch."""
        return tuple(int(p) for p in self.stage_two.patch_size)  # type: ignore[return-value]

    @property
    def pipelining(self) -> str:
        """``"off"`` (numpy), ``"two-stream"`` or ``"sequential"`` (for reports)."""
        return "off" if self.device is None else "two-stream" if self.lanes == 2 else "sequential"

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
            keep_probabilities: return the fused probabilities; else only the labels (bounded memory).
            trace: if given, receives ``(step, slab)`` in the order the work was queued
                (``"upload"``, ``"stage_one"``, ``"stage_two"``).

        Raises:
            InputError: a volume smaller than a stage-two patch or of the wrong in-plane size,
                runner outputs that do not fit, or a batch beyond the memory available.
        """
        volume = np.ascontiguousarray(volume, dtype=np.float32)
        plan = self.plan(tuple(int(s) for s in volume.shape))
        arrays = _Arrays(volume, plan, self.device, self.lanes, self.streams)
        log = trace if trace is not None else []
        seconds = {"stage_one": 0.0, "roi": 0.0, "stage_two": 0.0}
        one = StageOne(self.stage_one, arrays.volume, plan.factor, plan.stage_one_grid, plan.stage_one_batch_size,
                       self.maps_dtype, host_threads=self.host_threads and self.device is None)
        fusion = Fusion(arrays.backend, plan.shape, lambda rows: full_resolution_rows(
            lambda band: arrays.backend.slices_last(one.fold_mean(band)), plan.factor, rows, plan.shape[1],
            plan.half_shape[0]))
        stage_two: list[StageTwo] = []  # made once stage one's first outputs say the classes
        lanes = arrays.lanes
        done_events: list[Any] = []
        axis_starts = plan.stage_two_grid.axis_starts[0]
        final = next_row = 0

        def two() -> StageTwo:
            if not stage_two:
                classes = int(one.outputs()[0][0].shape[1])
                patch = tuple(int(p) for p in self.stage_two.patch_size)
                per_window = window_bytes(1 + 2 * classes * max(1, self.stage_two.fold_count), patch)
                fit_batch(plan.stage_two_batch_size, len(plan.stage_two_grid), per_window, "batch size")
                stage_two.append(StageTwo(
                    self.stage_two, pair_folds(self.stage_one, self.stage_two), arrays.volume,
                    lambda: one.maps(plan.factor), plan.stage_two_grid, plan.stage_two_batch_size, "gaussian",
                    fusion, bounded=not keep_probabilities, host_threads=self.host_threads and self.device is None,
                    rows_per_step=FUSION_SLAB_ROWS if keep_probabilities else LABEL_ROWS_PER_STEP))
            return stage_two[0]

        try:
            for step, slab in _queue_order(plan.slabs, self.lanes):
                clock = time.perf_counter()
                if step == "stage_one":  # upload the rows slab k reads, run its stage-one batches
                    arrays.upload(plan.volume_rows_needed(slab))
                    log.append(("upload", slab))
                    with lanes.lane("one"):
                        lanes.wait("one", arrays.uploads[-1])
                        stream = lanes.stream("one")
                        for calls in one.batch_calls(plan.stage_one_batches[slab]):
                            for runner, feed in zip(self.stage_one.runners, calls.feeds):
                                calls.returned.append(runner.infer(feed) if stream is None
                                                      else runner.infer(feed, stream=stream))
                        rows = slice(final, plan.stage_one_final[slab])
                        if self.roi and rows.stop > rows.start:  # the foreground of the rows now final
                            arrays.copy_foreground(one.foreground(rows), rows)
                        final = max(final, rows.stop)
                        done_events.append(lanes.record("one"))
                    log.append(("stage_one", slab))
                    seconds["stage_one"] += time.perf_counter() - clock
                    continue
                # stage two: the windows of slab k's rows that touch the ROI, blended, fused with stage one
                rows_two = plan.stage_two_rows[slab]
                foreground = None
                if self.roi:
                    if len(rows_two):
                        arrays.host_wait(done_events[slab])  # this slab's foreground is in host memory
                    foreground = arrays.foreground_xyz
                windows = windows_in_roi(plan, rows_two, foreground, self.stage_one_spacing_mm, self.roi_margin_mm)
                seconds["roi"] += time.perf_counter() - clock
                clock = time.perf_counter()
                next_row = rows_two.stop if len(rows_two) else next_row
                next_start = int(axis_starts[next_row]) if next_row < len(axis_starts) else plan.shape[0]
                with lanes.lane("two"):
                    lanes.wait("two", arrays.uploads[slab])
                    lanes.wait("two", done_events[slab])
                    stream = lanes.stream("two")
                    for calls in two().batch_calls(windows, next_start, slab == plan.slabs - 1):
                        for runner, feed in zip(self.stage_two.runners, calls.feeds):
                            calls.returned.append(runner.infer(feed) if stream is None
                                                  else runner.infer(feed, stream=stream))
                log.append(("stage_two", slab))
                seconds["stage_two"] += time.perf_counter() - clock
        finally:
            lanes.join()  # the caller's stream waits for every lane before any buffer is freed or read

        clock = time.perf_counter()
        labels = arrays.to_host(fusion.labels)  # on a device: the one wait for it
        probabilities = arrays.to_host(two().merger.values) if keep_probabilities else None
        covered = int(arrays.to_host(fusion.covered))
        seconds["fusion"] = time.perf_counter() - clock
        counts = {
            "stage_one_slices": plan.slices,
            "stage_one_windows_per_slice": len(plan.stage_one_grid),
            "stage_one_calls": one.calls,
            "stage_two_patches_run": two().windows_run,
            "stage_two_patches_total": len(plan.stage_two_grid),
            "stage_two_calls": two().calls,
            "stage_two_voxels_covered": covered,
            "voxels": int(volume.size),
            "slabs": plan.slabs,
            "slabs_with_stage_two": int(plan.describe()["slabs_with_stage_two"]),  # type: ignore[call-overload]
        }
        if labels.dtype not in (np.uint8, np.uint16):
            labels = labels.astype(np.uint16)
        return GridPrediction(probabilities, counts, seconds, None if keep_probabilities else labels)


def _queue_order(slabs: int, lanes: int) -> list[tuple[str, int]]:
    """``(step, slab)`` in queue order: slab by slab, or (two lanes) stage one one slab ahead of stage two."""
    if lanes != 2:
        return [(step, slab) for slab in range(slabs) for step in ("stage_one", "stage_two")]
    order = [("stage_one", 0)] if slabs else []
    for slab in range(slabs):
        order += [("stage_one", slab + 1)] if slab + 1 < slabs else []
        order.append(("stage_two", slab))
    return order


class _Arrays:
    """Where the volume and the stage-one foreground live: numpy on the host, or torch on a device."""

    def __init__(self, volume: np.ndarray, plan: SlabPlan, device: str | None, lanes: int, streams: dict) -> None:
        half_x, half_y = plan.half_shape
        self.uploads: list[Any] = []
        self._uploaded = 0
        self._host = volume
        if device is None:
            from spine_rt.pipelines.schedules.lanes import NullLanes

            self.volume, self.lanes, self.on_cuda = volume, NullLanes(), False  # type: ignore[assignment]
            self.foreground = np.zeros((half_x, plan.slices, half_y), bool)
        else:
            from spine_rt.pipelines.schedules.lanes import StreamLanes, torch_device

            torch, where = torch_device(device)
            self.on_cuda = where.type == "cuda"
            self.lanes = StreamLanes(where, lanes == 2, streams)
            if self.on_cuda:  # made on the caller's stream before the lanes start (they wait for it)
                self._host = torch.empty(volume.shape, dtype=torch.float32, pin_memory=True)
                self._host.numpy()[...] = volume
                self.volume = torch.empty(volume.shape, dtype=torch.float32, device=where)
            else:
                self._host = self.volume = torch.from_numpy(volume)
            self.foreground = torch.zeros((half_x, plan.slices, half_y), dtype=torch.bool, pin_memory=self.on_cuda)
        self.backend = backend_for(self.volume)
        # rows first, so a slab's rows are one contiguous block of the (pinned) host buffer
        host = self.foreground if isinstance(self.foreground, np.ndarray) else self.foreground.numpy()
        self.foreground_xyz = np.moveaxis(host, 1, 2)  # (X/f, Y/f, Z) view
        self.lanes.start()

    def upload(self, stop: int) -> None:
        """The volume's rows ``[0, stop)`` on the device (lane "copy", from pinned memory, non-blocking)."""
        with self.lanes.lane("copy"):
            if self.on_cuda and stop > self._uploaded:
                self.volume[self._uploaded:stop].copy_(self._host[self._uploaded:stop], non_blocking=True)
            self._uploaded = max(self._uploaded, stop)
            self.uploads.append(self.lanes.record("copy"))

    def copy_foreground(self, rows_zxy: Any, rows: slice) -> None:
        """Stage one's foreground ``(Z, n, Y/f)`` of final rows to host memory (non-blocking from a GPU)."""
        part = rows_zxy.permute(1, 0, 2) if hasattr(rows_zxy, "permute") else np.moveaxis(rows_zxy, 0, 1)
        if self.on_cuda:
            self.foreground[rows].copy_(part.contiguous(), non_blocking=True)
        else:
            self.foreground[rows] = part

    def host_wait(self, event: Any) -> None:
        from spine_rt.pipelines.schedules import lanes

        lanes.host_wait(event)

    def to_host(self, array: Any) -> Any:
        return array if isinstance(array, (np.ndarray, int, np.integer)) else array.cpu().numpy()
