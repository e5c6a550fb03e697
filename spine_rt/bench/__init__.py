"""spine_rt.bench: measuring spine-rt against baselines (the library side of ``spine-rt bench``).

::

    from spine_rt.bench import BenchOptions, run_bench
    report = run_bench(BenchOptions(shape=(12, 512, 1024), repeat=5))
    print(report.format_table()); report.as_dict()

Every figure is measured in one run against baselines on the same weights
and the same scan (DESIGN.md, Performance protocol):

* spine-rt's fast schedule on each backend (torch, onnxruntime, TensorRT);
* the authors' schedule, torch FP32, and MONAI ``sliding_window_inference``
  driving the same torch stage-two network (:mod:`~spine_rt.bench.segmenters`).

Modules: :mod:`~spine_rt.bench.plan` (scan, package, presets, configurations),
:mod:`~spine_rt.bench.segmenters` (what is measured), :mod:`~spine_rt.bench.instruments`
(stopwatches, peak memory, matrix-product peak), :mod:`~spine_rt.bench.runner_clock`,
:mod:`~spine_rt.bench.configuration_measurement` (the measuring loop),
:mod:`~spine_rt.bench.report` (summaries, progress, the report),
:mod:`~spine_rt.bench.pipeline_benchmark` (``run_bench``), :mod:`~spine_rt.bench.stage_engines`
(per-patch engine comparison).

Reported per configuration: latency per stage and end to end (median,
p95), stage-two patches run, patches/s, voxels/s, the share of time outside
backend calls (:mod:`~spine_rt.bench.runner_clock`), peak host and GPU
memory (:mod:`~spine_rt.bench.instruments`), time ratios and label
agreement (:func:`spine_rt.measure.overlap.mean_dice`) against spine-rt fast.

Importing this package needs numpy only; torch, MONAI and the backends are
imported when a configuration is built. Names load on first access (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine_rt.lazy_exports import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "BenchOptions": "spine_rt.bench.pipeline_benchmark",
    "run_bench": "spine_rt.bench.pipeline_benchmark",
    "BASELINES": "spine_rt.bench.pipeline_benchmark",
    "BenchReport": "spine_rt.bench.report",
    "ConfigurationMeasurement": "spine_rt.bench.configuration_measurement",
    "measure": "spine_rt.bench.configuration_measurement",
    "measure_interleaved": "spine_rt.bench.configuration_measurement",
    "ConfigurationRecorder": "spine_rt.bench.configuration_measurement",
    "BenchInput": "spine_rt.bench.plan",
    "parse_shape": "spine_rt.bench.plan",
    "phantom_input": "spine_rt.bench.plan",
    "shaped_input": "spine_rt.bench.plan",
    "LatencySummary": "spine_rt.bench.report",
    "RunnerClock": "spine_rt.bench.runner_clock",
    "MonaiBaseline": "spine_rt.bench.segmenters",
    "reference_baseline": "spine_rt.bench.segmenters",
    "PipelineSegmenter": "spine_rt.bench.segmenters",
    "Segmentation": "spine_rt.bench.segmenters",
    "peak_host_memory_bytes": "spine_rt.bench.instruments",
    "reset_peak_host_memory": "spine_rt.bench.instruments",
    "stopwatch_for": "spine_rt.bench.instruments",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from spine_rt.bench.configuration_measurement import (
        ConfigurationMeasurement,
        ConfigurationRecorder,
        measure,
        measure_interleaved,
    )
    from spine_rt.bench.instruments import peak_host_memory_bytes, reset_peak_host_memory, stopwatch_for
    from spine_rt.bench.pipeline_benchmark import BASELINES, BenchOptions, run_bench
    from spine_rt.bench.plan import BenchInput, parse_shape, phantom_input, shaped_input
    from spine_rt.bench.report import BenchReport, LatencySummary
    from spine_rt.bench.runner_clock import RunnerClock
    from spine_rt.bench.segmenters import MonaiBaseline, PipelineSegmenter, Segmentation, reference_baseline


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
