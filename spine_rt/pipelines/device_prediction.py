"""One prediction of the device fast schedule: the slab loop over the lanes (imports torch).

See :mod:`spine_rt.pipelines.device_fast_schedule` for what is computed and
in which order; this module queues it. Per slab ``k`` (``n`` slabs)::

    copy lane:  volume rows slab k needs, pinned host -> device, non_blocking; event U[k]
    lane one:   wait U[k]; stage-one batches of slab k; fold mean of its final rows;
                foreground of those rows -> pinned host, non_blocking; event S[k]
    host:       (ROI on) wait for event S[k]; choose slab k's stage-two windows
    lane two:   wait U[k], S[k]; stage-two batches; fuse and argmax finished rows

with (two streams) slab ``k + 1``'s upload and stage one queued before slab
``k``'s stage two; in order mode slab by slab (so a stage two reading a row
its slab did not finalise would read unfinished maps, and the tests would
see it). The only host synchronisation after the loop is reading the results.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from spine_rt.dependencies import require
from spine_rt.pipelines.device_stage_one import DeviceStageOne
from spine_rt.pipelines.device_stage_two import DeviceStageTwo, Interpolations
from spine_rt.pipelines.grid_prediction import GridPrediction
from spine_rt.pipelines.stage_one_roi_band import windows_in_roi
from spine_rt.pipelines.stage_runners import pair_folds
from spine_rt.pipelines.stream_lanes import StreamLanes, host_wait

torch = require("torch", "the device fast schedule")


def predict(schedule: Any, volume: np.ndarray, keep_probabilities: bool,
            trace: list[tuple[str, int]] | None) -> GridPrediction:
    """:meth:`DeviceFastSchedule.predict` (see there)."""
    clock = time.perf_counter()
    volume = np.ascontiguousarray(volume, dtype=np.float32)
    shape = tuple(int(s) for s in volume.shape)
    plan = schedule.plan(shape)
    device = torch.device(schedule.device)
    on_cuda = device.type == "cuda"
    log = trace if trace is not None else []

    # everything made before the loop is queued on the caller's stream; the lanes wait for it
    if on_cuda:
        host_volume = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        host_volume.numpy()[...] = volume
        device_volume = torch.empty(shape, dtype=torch.float32, device=device)
        half_x, half_y = plan.half_shape
        foreground = torch.zeros((half_x, plan.slices, half_y), dtype=torch.bool, pin_memory=True)
    else:
        host_volume = device_volume = torch.from_numpy(volume)
        half_x, half_y = plan.half_shape
        foreground = torch.zeros((half_x, plan.slices, half_y), dtype=torch.bool)
    lanes = StreamLanes(device, schedule.two_streams, schedule.streams)
    stage_one = DeviceStageOne(schedule.stage_one, plan, device_volume, lanes)
    stage_two = DeviceStageTwo(schedule.stage_two, pair_folds(schedule.stage_one, schedule.stage_two), plan,
                               device_volume, stage_one, Interpolations.build(shape, plan.factor, device),
                               keep_probabilities)
    # rows first, so a slab's rows are one contiguous block of the (pinned) host buffer
    foreground_xyz = np.moveaxis(foreground.numpy(), 1, 2)  # (X/f, Y/f, Z) view
    lanes.start()

    uploaded = 0
    uploads: list[Any] = []
    stage_one_done: list[Any] = []
    roi_seconds = 0.0

    def queue_stage_one(slab: int) -> None:
        nonlocal uploaded
        stop = plan.volume_rows_needed(slab)
        with lanes.lane("copy"):
            if on_cuda and stop > uploaded:
                device_volume[uploaded:stop].copy_(host_volume[uploaded:stop], non_blocking=True)
            uploaded = max(uploaded, stop)
            uploads.append(lanes.record("copy"))
        log.append(("upload", slab))
        with lanes.lane("one"):
            lanes.wait("one", uploads[slab])
            start, final = stage_one.run_slab(slab)
            if schedule.roi and final > start:
                rows = stage_one.foreground_rows(slice(start, final)).permute(1, 0, 2).contiguous()
                foreground[start:final].copy_(rows, non_blocking=on_cuda)
            stage_one_done.append(lanes.record("one"))
        log.append(("stage_one", slab))

    def queue_stage_two(slab: int) -> None:
        nonlocal roi_seconds
        rows = plan.stage_two_rows[slab]
        if schedule.roi:
            if len(rows):
                host_wait(stage_one_done[slab])  # this slab's foreground is in host memory
            started = time.perf_counter()
            windows = windows_in_roi(plan, rows, foreground_xyz, schedule.stage_one_spacing_mm,
                                     schedule.roi_margin_mm)
            roi_seconds += time.perf_counter() - started
        else:
            windows = windows_in_roi(plan, rows, None, schedule.stage_one_spacing_mm, schedule.roi_margin_mm)
        with lanes.lane("two"):
            lanes.wait("two", uploads[slab])
            lanes.wait("two", stage_one_done[slab])
            stage_two.add_rows(rows, windows, last=slab == plan.slabs - 1)
        log.append(("stage_two", slab))

    try:
        if schedule.two_streams:  # stage one runs one slab ahead, on its own stream
            queue_stage_one(0)
            for slab in range(plan.slabs):
                if slab + 1 < plan.slabs:
                    queue_stage_one(slab + 1)
                queue_stage_two(slab)
        else:  # one stream: slab by slab, so stage two of slab k sees only what slab k made final
            for slab in range(plan.slabs):
                queue_stage_one(slab)
                queue_stage_two(slab)
    finally:
        lanes.join()  # the caller's stream waits for every lane before any buffer is freed or read

    queued = time.perf_counter()
    labels = stage_two.labels.cpu().numpy()  # the one wait for the device
    probabilities = stage_two.numerator.cpu().numpy() if keep_probabilities else None
    covered = int(stage_two.covered_voxels.cpu())
    done = time.perf_counter()
    counts = {
        "stage_one_slices": plan.slices,
        "stage_one_windows_per_slice": len(plan.stage_one_grid),
        "stage_one_calls": stage_one.calls,
        "stage_two_patches_run": stage_two.windows_run,
        "stage_two_patches_total": len(plan.stage_two_grid),
        "stage_two_calls": stage_two.calls,
        "stage_two_voxels_covered": covered,
        "voxels": int(volume.size),
        "slabs": plan.slabs,
        "slabs_with_stage_two": int(plan.describe()["slabs_with_stage_two"]),  # type: ignore[call-overload]
    }
    # "networks": queueing both stages (on a GPU most device time is spent in "results": waiting for
    # the queued work, then copying the results back); "roi": the host's ROI dilation
    seconds = {"networks": queued - clock - roi_seconds, "roi": roi_seconds, "results": done - queued}
    if labels.dtype != np.uint8:
        labels = labels.astype(np.uint16)
    return GridPrediction(probabilities, counts, seconds, None if keep_probabilities else labels)
