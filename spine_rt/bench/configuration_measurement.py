"""Measuring one configuration (a pipeline or a baseline) on one scan: the benchmark's inner loop.

:func:`measure` runs ``warmup`` untimed calls, then ``repeat`` timed calls,
each timed end to end by a :mod:`~spine_rt.bench.stopwatch` (perf_counter
on the CPU, CUDA events on a GPU) while a
:class:`~spine_rt.bench.runner_clock.RunnerClock` sums the time inside the
backend calls. The peak memory is reset before the warm-up and read after
the last call, so it covers this configuration's calls (the process's other
live objects, e.g. the scan and other loaded networks, included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.bench.latency_summary import LatencySummary
from spine_rt.bench.peak_memory import (
    peak_gpu_memory_bytes,
    peak_host_memory_bytes,
    reset_peak_gpu_memory,
    reset_peak_host_memory,
)
from spine_rt.bench.runner_clock import RunnerClock
from spine_rt.bench.segmenter import Segmenter
from spine_rt.bench.stopwatch import stopwatch_for


@dataclass(frozen=True, eq=False)
class ConfigurationMeasurement:
    """What one configuration did over the timed repeats.

    Attributes:
        name / kind: from the segmenter.
        settings: the segmenter's own description (schedule, backend, device, precision, ...).
        end_to_end: latency of whole calls (s).
        stages: latency per step of the call (s), as the segmenter reports them.
        backend: per call, seconds inside the runners' ``infer`` (s).
        backend_by_stage: per stage, the median seconds inside its runners per call (s).
        overhead_fraction: median over calls of ``1 - backend / end_to_end``:
            the share of a call spent outside the backend (preprocessing, feed
            assembly, stitching, fusion, inverse, Python).
        stage_two_patches_run / stage_two_patches_total: per call.
        counts: the last call's counts (stage-one slices and windows, calls, ...).
        voxels: input voxels per call.
        peak_host_memory_bytes: RSS high-water mark during the calls (bytes).
        peak_host_memory_is_per_configuration: the mark was reset before this
            configuration (otherwise it is the process's since start).
        peak_gpu_memory_bytes: torch's CUDA peak during the calls (bytes), ``None`` on the CPU.
        timer: ``"perf_counter"`` or ``"cuda_events"``.
        labels: the last call's label map (for agreement; not serialised).
    """

    name: str
    kind: str
    settings: dict[str, Any]
    end_to_end: LatencySummary
    stages: dict[str, LatencySummary]
    backend: LatencySummary
    backend_by_stage: dict[str, float]
    overhead_fraction: float
    stage_two_patches_run: int
    stage_two_patches_total: int
    counts: dict[str, int]
    voxels: int
    peak_host_memory_bytes: int
    peak_host_memory_is_per_configuration: bool
    peak_gpu_memory_bytes: int | None
    timer: str
    labels: np.ndarray = field(repr=False)

    @property
    def patches_per_second(self) -> float:
        """Stage-two patches run per second of end-to-end median time."""
        return self.stage_two_patches_run / self.end_to_end.median_s

    @property
    def voxels_per_second(self) -> float:
        """Input voxels per second of end-to-end median time."""
        return self.voxels / self.end_to_end.median_s

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types (labels left out)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "settings": self.settings,
            "end_to_end": self.end_to_end.as_dict(),
            "stages": {name: summary.as_dict() for name, summary in self.stages.items()},
            "backend": self.backend.as_dict(),
            "backend_by_stage_median_s": dict(self.backend_by_stage),
            "overhead_fraction": self.overhead_fraction,
            "stage_two_patches": {"run": self.stage_two_patches_run, "total": self.stage_two_patches_total},
            "counts": dict(self.counts),
            "patches_per_s": self.patches_per_second,
            "voxels": self.voxels,
            "voxels_per_s": self.voxels_per_second,
            "peak_host_memory_bytes": self.peak_host_memory_bytes,
            "peak_host_memory_is_per_configuration": self.peak_host_memory_is_per_configuration,
            "peak_gpu_memory_bytes": self.peak_gpu_memory_bytes,
            "timer": self.timer,
        }


def measure(segmenter: Segmenter, image: np.ndarray, affine: np.ndarray, repeat: int, warmup: int,
            device: str) -> ConfigurationMeasurement:
    """Time ``segmenter`` on ``image`` (see the module docstring).

    Args:
        segmenter: what to measure.
        image / affine: the scan.
        repeat: timed calls (>= 1).
        warmup: untimed calls before them (>= 0).
        device: where it runs (picks the stopwatch and the GPU memory counter).

    Raises:
        ValueError: ``repeat < 1`` or ``warmup < 0``.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"repeat must be >= 1 and warmup >= 0, got {repeat} and {warmup}")
    watch = stopwatch_for(device)
    clock = RunnerClock(segmenter.runner_groups())
    per_configuration = reset_peak_host_memory()
    reset_peak_gpu_memory(device)
    end_to_end: list[float] = []
    backend: list[float] = []
    by_stage: dict[str, list[float]] = {}
    steps: dict[str, list[float]] = {}
    result = None
    with clock:
        for _ in range(warmup):
            segmenter.segment(image, affine)
        for _ in range(repeat):
            clock.reset()
            result = None  # the previous labels can go before the next call allocates
            watch.start()
            result = segmenter.segment(image, affine)
            end_to_end.append(watch.stop())
            backend.append(clock.total_seconds)
            for stage, seconds in clock.seconds.items():
                by_stage.setdefault(stage, []).append(seconds)
            for step, seconds in result.seconds.items():
                steps.setdefault(step, []).append(seconds)
    if result is None:  # unreachable: repeat >= 1
        raise RuntimeError("no timed call ran")
    overhead = [max(0.0, 1.0 - b / e) for b, e in zip(backend, end_to_end)]
    return ConfigurationMeasurement(
        name=segmenter.name,
        kind=segmenter.kind,
        settings=segmenter.describe(),
        end_to_end=LatencySummary.of(end_to_end),
        stages={step: LatencySummary.of(values) for step, values in steps.items()},
        backend=LatencySummary.of(backend),
        backend_by_stage={stage: float(np.median(values)) for stage, values in by_stage.items()},
        overhead_fraction=float(np.median(overhead)),
        stage_two_patches_run=result.stage_two_patches_run,
        stage_two_patches_total=result.stage_two_patches_total,
        counts=dict(result.counts),
        voxels=int(np.asarray(image).size),
        peak_host_memory_bytes=peak_host_memory_bytes(),
        peak_host_memory_is_per_configuration=per_configuration,
        peak_gpu_memory_bytes=peak_gpu_memory_bytes(device),
        timer=watch.kind,
        labels=result.labels,
    )
