"""spine_rt.bench: measuring spine-rt against baselines (the library side of ``spine-rt bench``).

::

    from spine_rt.bench import BenchOptions, run_bench
    report = run_bench(BenchOptions(shape=(12, 512, 1024), repeat=5))
    print(report.format_table()); report.as_dict()

Every figure is measured in one run against baselines on the same weights
and the same scan (DESIGN.md, Performance protocol):

* spine-rt's fast schedule on each backend (torch, onnxruntime, TensorRT);
* :mod:`~spine_rt.bench.reference_baseline` - the authors' schedule, torch FP32;
* :mod:`~spine_rt.bench.monai_baseline` - MONAI ``sliding_window_inference``
  driving the same torch stage-two network.

Reported per configuration: latency per stage and end to end (median,
p95), stage-two patches run, patches/s, voxels/s, the share of time outside
backend calls (:mod:`~spine_rt.bench.runner_clock`), peak host and GPU
memory (:mod:`~spine_rt.bench.peak_memory`), time ratios and label
agreement (:mod:`~spine_rt.bench.label_agreement`) against spine-rt fast.

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
    "BenchReport": "spine_rt.bench.bench_report",
    "ConfigurationMeasurement": "spine_rt.bench.configuration_measurement",
    "measure": "spine_rt.bench.configuration_measurement",
    "measure_interleaved": "spine_rt.bench.configuration_measurement",
    "ConfigurationRecorder": "spine_rt.bench.configuration_measurement",
    "BenchInput": "spine_rt.bench.bench_input",
    "parse_shape": "spine_rt.bench.bench_input",
    "phantom_input": "spine_rt.bench.bench_input",
    "shaped_input": "spine_rt.bench.bench_input",
    "LatencySummary": "spine_rt.bench.latency_summary",
    "RunnerClock": "spine_rt.bench.runner_clock",
    "MonaiBaseline": "spine_rt.bench.monai_baseline",
    "reference_baseline": "spine_rt.bench.reference_baseline",
    "PipelineSegmenter": "spine_rt.bench.pipeline_segmenter",
    "Segmentation": "spine_rt.bench.segmenter",
    "mean_dice": "spine_rt.bench.label_agreement",
    "dice_per_structure": "spine_rt.bench.label_agreement",
    "peak_host_memory_bytes": "spine_rt.bench.peak_memory",
    "reset_peak_host_memory": "spine_rt.bench.peak_memory",
    "stopwatch_for": "spine_rt.bench.stopwatch",
    "machine_facts": "spine_rt.bench.machine_facts",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from spine_rt.bench.bench_input import BenchInput, parse_shape, phantom_input, shaped_input
    from spine_rt.bench.bench_report import BenchReport
    from spine_rt.bench.configuration_measurement import (
        ConfigurationMeasurement,
        ConfigurationRecorder,
        measure,
        measure_interleaved,
    )
    from spine_rt.bench.label_agreement import dice_per_structure, mean_dice
    from spine_rt.bench.latency_summary import LatencySummary
    from spine_rt.bench.machine_facts import machine_facts
    from spine_rt.bench.monai_baseline import MonaiBaseline
    from spine_rt.bench.peak_memory import peak_host_memory_bytes, reset_peak_host_memory
    from spine_rt.bench.pipeline_benchmark import BASELINES, BenchOptions, run_bench
    from spine_rt.bench.pipeline_segmenter import PipelineSegmenter
    from spine_rt.bench.reference_baseline import reference_baseline
    from spine_rt.bench.runner_clock import RunnerClock
    from spine_rt.bench.segmenter import Segmentation
    from spine_rt.bench.stopwatch import stopwatch_for


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
