"""Measuring configurations (pipelines or baselines) on one scan: the benchmark's inner loop.

Each call is timed end to end by a stopwatch (:mod:`~spine_rt.bench.instruments`:
perf_counter on the CPU, CUDA events on a GPU) while a
:class:`~spine_rt.bench.runner_clock.RunnerClock` sums the time inside the
backend calls (:class:`ConfigurationRecorder`).

* :func:`measure_interleaved` - several configurations, warm-up calls first,
  then round by round one timed call of each (what ``spine-rt bench`` does:
  on a shared machine whose load drifts, every configuration sees the same
  drift, so their ratios stay fair);
* :func:`measure` - one configuration alone.

The peak memory is reset before and read after every call of a
configuration; its peak is the largest over its calls (the process's other
live objects, e.g. the scan and other loaded networks, included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.bench.instruments import (
    peak_gpu_memory_bytes,
    peak_host_memory_bytes,
    reset_peak_gpu_memory,
    reset_peak_host_memory,
    stopwatch_for,
)
from spine_rt.bench.report import TIMED, WARM_UP, CallDone, LatencySummary
from spine_rt.bench.runner_clock import RunnerClock
from spine_rt.bench.segmenters import Segmentation, Segmenter


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
        peak_host_memory_bytes: the largest RSS high-water mark over the
            configuration's calls (bytes; the process's live memory included).
        peak_host_memory_is_per_configuration: the mark was reset before each
            call (otherwise it is the process's since start).
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


class ConfigurationRecorder:
    """Times the calls of one segmenter and keeps what :class:`ConfigurationMeasurement` needs.

    The runner clock stays installed from :meth:`open` to :meth:`close`. Before
    every call (warm-up included) the host and GPU peak-memory marks are reset,
    and after it they are read, so the configuration's peak is the largest
    over its own calls even when calls of several configurations alternate.

    Args:
        segmenter: what to measure.
        device: where it runs (picks the stopwatch and the GPU memory counter).
    """

    def __init__(self, segmenter: Segmenter, device: str) -> None:
        self.segmenter = segmenter
        self.device = device
        self._watch = stopwatch_for(device)
        self._clock = RunnerClock(segmenter.runner_groups())
        self._end_to_end: list[float] = []
        self._backend: list[float] = []
        self._by_stage: dict[str, list[float]] = {}
        self._steps: dict[str, list[float]] = {}
        self._last: Segmentation | None = None
        self._voxels = 0
        self._peak_host = 0
        self._peak_gpu: int | None = None
        self._peak_is_per_configuration = True

    def open(self) -> None:
        self._clock.install()

    def close(self) -> None:
        self._clock.remove()

    def warm_up(self, image: np.ndarray, affine: np.ndarray) -> None:
        """One untimed call (its memory peak counts)."""
        self._before_call()
        self.segmenter.segment(image, affine)
        self._after_call()

    def timed_call(self, image: np.ndarray, affine: np.ndarray) -> None:
        """One timed call."""
        self._last = None  # the previous labels can go before the next call allocates
        self._before_call()
        self._clock.reset()
        self._watch.start()
        result = self.segmenter.segment(image, affine)
        self._end_to_end.append(self._watch.stop())
        self._after_call()
        self._backend.append(self._clock.total_seconds)
        for stage, seconds in self._clock.seconds.items():
            self._by_stage.setdefault(stage, []).append(seconds)
        for step, seconds in result.seconds.items():
            self._steps.setdefault(step, []).append(seconds)
        self._voxels = int(np.asarray(image).size)
        self._last = result

    def result(self) -> ConfigurationMeasurement:
        """The measurement over the timed calls so far.

        Raises:
            RuntimeError: no timed call yet.
        """
        result = self._last
        if result is None:
            raise RuntimeError(f"{self.segmenter.name}: no timed call yet")
        overhead = [max(0.0, 1.0 - b / e) for b, e in zip(self._backend, self._end_to_end)]
        return ConfigurationMeasurement(
            name=self.segmenter.name,
            kind=self.segmenter.kind,
            settings=self.segmenter.describe(),
            end_to_end=LatencySummary.of(self._end_to_end),
            stages={step: LatencySummary.of(values) for step, values in self._steps.items()},
            backend=LatencySummary.of(self._backend),
            backend_by_stage={stage: float(np.median(values)) for stage, values in self._by_stage.items()},
            overhead_fraction=float(np.median(overhead)),
            stage_two_patches_run=result.stage_two_patches_run,
            stage_two_patches_total=result.stage_two_patches_total,
            counts=dict(result.counts),
            voxels=self._voxels,
            peak_host_memory_bytes=self._peak_host,
            peak_host_memory_is_per_configuration=self._peak_is_per_configuration,
            peak_gpu_memory_bytes=self._peak_gpu,
            timer=self._watch.kind,
            labels=result.labels,
        )

    def _before_call(self) -> None:
        self._peak_is_per_configuration &= reset_peak_host_memory()
        reset_peak_gpu_memory(self.device)

    def _after_call(self) -> None:
        self._peak_host = max(self._peak_host, peak_host_memory_bytes())
        gpu = peak_gpu_memory_bytes(self.device)
        if gpu is not None:
            self._peak_gpu = max(self._peak_gpu or 0, gpu)


def _check_counts(repeat: int, warmup: int) -> None:
    if repeat < 1 or warmup < 0:
        raise ValueError(f"repeat must be >= 1 and warmup >= 0, got {repeat} and {warmup}")


def measure(segmenter: Segmenter, image: np.ndarray, affine: np.ndarray, repeat: int, warmup: int,
            device: str) -> ConfigurationMeasurement:
    """Time ``segmenter`` alone on ``image``: ``warmup`` untimed calls, then ``repeat`` timed ones.

    Raises:
        ValueError: ``repeat < 1`` or ``warmup < 0``.
    """
    return measure_interleaved([segmenter], image, affine, repeat, warmup, device)[0]


def measure_interleaved(segmenters: Sequence[Segmenter], image: np.ndarray, affine: np.ndarray, repeat: int,
                        warmup: int, device: str,
                        on_call: Callable[[CallDone], None] | None = None) -> list[ConfigurationMeasurement]:
    """Time several segmenters round by round (fair on a machine whose load changes).

    Every segmenter first gets its ``warmup`` untimed calls; then each of the
    ``repeat`` rounds makes one timed call of every segmenter in order, so a
    change of the machine's load affects all of them alike. ``on_call``
    hears of every finished call (progress lines,
    :class:`~spine_rt.bench.report.BenchProgress`).

    Raises:
        ValueError: ``repeat < 1`` or ``warmup < 0``.
    """
    _check_counts(repeat, warmup)
    recorders = [ConfigurationRecorder(segmenter, device) for segmenter in segmenters]
    for recorder in recorders:
        recorder.open()
    try:
        for recorder in recorders:
            for index in range(warmup):
                started = time.perf_counter()
                recorder.warm_up(image, affine)
                if on_call is not None:
                    on_call(CallDone(recorder.segmenter.name, WARM_UP, index + 1, time.perf_counter() - started))
        for index in range(repeat):
            for recorder in recorders:
                started = time.perf_counter()
                recorder.timed_call(image, affine)
                if on_call is not None:
                    on_call(CallDone(recorder.segmenter.name, TIMED, index + 1, time.perf_counter() - started))
    finally:
        for recorder in recorders:
            recorder.close()
    return [recorder.result() for recorder in recorders]
