"""``run_bench``: spine-rt's fast schedule on each backend against the baselines, one scan, one run.

The library side of ``spine-rt bench``. In order:

1. the package: ``model`` or, without one, a seeded random-init SSHSNet of
   the preset (``tiny`` or ``full``, :mod:`spine_rt.bench.plan`)
   exported to a temporary folder (removed afterwards);
2. the scan: the MRSpineSeg-geometry phantom or a phantom of ``shape``;
3. spine-rt fast on every configuration asked for (``backend[:precision]``;
   default: the preset's, :func:`~spine_rt.bench.plan.default_configurations`);
   the first is the *primary* configuration;
4. the baselines on the same weights and scan: ``reference`` (the authors'
   schedule, torch FP32) and ``monai`` (MONAI's sliding window, torch FP32);
   by default none with ``tiny``, both with ``full``;
5. every configuration is built (all stay loaded), warmed up, then timed
   round by round, one call of each per round
   (:func:`~spine_rt.bench.configuration_measurement.measure_interleaved`),
   so a drifting machine load affects all of them alike; a progress line
   per call says the round and the estimated time left;
6. with ``full`` (or ``patch_engines``): one stage-two patch on each CPU
   engine, interleaved (:mod:`spine_rt.bench.stage_engines`), and the CPU's
   matrix-product peak (:mod:`spine_rt.bench.instruments`) in the same run,
   for GFLOP/s and the fraction of peak; ``scan=False`` skips steps 2-5.

``threads`` fixes torch's intra-op threads and those of onnxruntime sessions.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.bench.configuration_measurement import measure_interleaved
from spine_rt.bench.plan import (
    BASELINES,
    BENCH_SEED,
    PIPELINE_BACKENDS,
    PRESET_DEFAULTS,
    FastConfiguration,
    check_preset,
    default_configurations,
    export_bench_package,
    parse_configuration,
    phantom_input,
    shaped_input,
)
from spine_rt.bench.report import BenchProgress, BenchReport
from spine_rt.bench.segmenters import Segmenter
from spine_rt.errors import InputError
from spine_rt.runtime.machine import machine_snapshot

__all__ = ["BASELINES", "PIPELINE_BACKENDS", "BenchOptions", "run_bench"]
DEFAULT_REPEAT = PRESET_DEFAULTS["tiny"].repeat
DEFAULT_WARMUP = PRESET_DEFAULTS["tiny"].warmup
#: above this 1-minute load per usable core the report says the machine was busy
BUSY_LOAD_PER_CORE = 1.25


@dataclass(frozen=True)
class BenchOptions:
    """What ``run_bench`` measures (every field has the CLI's meaning; ``None`` = default).

    Attributes:
        model: model package folder; ``None`` exports a random-init package of ``preset``.
        backends: spine-rt fast configurations, ``backend[:precision]``; ``None``: the preset's.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``; ``None``: the auto backend's device.
        shape: input ``(slices, S-I, A-P)``; ``None``: the MRSpineSeg-geometry phantom.
        seed: phantom seed.
        repeat / warmup: timed / untimed calls per configuration; ``None``: the preset's.
        baselines: a subset of :data:`BASELINES`; ``None``: the preset's.
        threads: torch, onnxruntime and OpenVINO threads; ``None``: their defaults.
        batch_size: stage-two windows per call of spine-rt fast (default 4).
        preset: ``"tiny"`` or ``"full"`` (:mod:`spine_rt.bench.plan`).
        patch_engines: also time one stage-two patch per CPU engine (default: with ``full``).
        scan: time whole scans (``False``: only the per-patch comparison).
        triton: backend ``triton``: ``(servers or TritonServerPool, model name prefix)``.
    """

    model: str | os.PathLike[str] | None = None
    backends: Sequence[str] | None = None
    device: str | None = None
    shape: Sequence[int] | None = None
    seed: int = 0
    repeat: int | None = None
    warmup: int | None = None
    baselines: Sequence[str] | None = None
    threads: int | None = None
    batch_size: int | None = None
    preset: str = "tiny"
    patch_engines: bool | None = None
    scan: bool = True
    triton: Any = None

    def checked(self) -> BenchOptions:
        """Validate the options and fill in the preset's defaults.

        Raises:
            InputError: an unknown preset, backend or baseline, ``repeat < 1``,
                ``warmup < 0``, ``threads < 1``, nothing to measure.
        """
        from dataclasses import replace

        defaults = PRESET_DEFAULTS[check_preset(self.preset)]
        filled = replace(
            self,
            repeat=defaults.repeat if self.repeat is None else self.repeat,
            warmup=defaults.warmup if self.warmup is None else self.warmup,
            baselines=defaults.baselines if self.baselines is None else tuple(self.baselines),
            patch_engines=(self.preset == "full") if self.patch_engines is None else bool(self.patch_engines),
        )
        if filled.repeat < 1:
            raise InputError(f"--repeat must be at least 1, got {filled.repeat}")
        if filled.warmup < 0:
            raise InputError(f"--warmup must be at least 0, got {filled.warmup}")
        if filled.threads is not None and filled.threads < 1:
            raise InputError(f"--threads must be at least 1, got {filled.threads}")
        unknown = [b for b in filled.baselines if b not in BASELINES]
        if unknown:
            raise InputError(f"unknown baseline {unknown[0]!r}; valid baselines: {', '.join(BASELINES)}")
        chosen = [parse_configuration(spec).backend for spec in filled.backends or ()]
        if ("triton" in chosen) != (filled.triton is not None):
            raise InputError("backend triton and its servers go together (--backend triton --server HOST:PORT)")
        if not filled.scan and not filled.patch_engines:
            raise InputError("nothing to measure: no scan and no per-patch comparison")
        return filled


def run_bench(options: BenchOptions, progress: Callable[[str], None] | None = None) -> BenchReport:
    """Measure spine-rt fast on each configuration and the baselines (see the module docstring).

    Args:
        options: what to measure.
        progress: receives one line per step and per call (e.g. ``print``); ``None``: silent.

    Raises:
        InputError: bad options, a bad package or shape.
        EnvironmentProblem: a requested backend, device or baseline dependency is missing.
    """
    from spine_rt.runtime import describe_environment

    baselines_defaulted = options.baselines is None
    options = options.checked()
    say = progress or (lambda line: None)
    notes: list[str] = []
    machine_before = machine_snapshot()
    _limit_torch_threads(options.threads)
    device = _resolve_device(options.device)
    configurations, plan_notes = _resolve_configurations(options, device)
    notes += plan_notes
    measurements: list[Any] = []
    extras: dict[str, Any] = {}
    scan = None

    with ExitStack() as cleanup:
        if options.model is None:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="spine-rt-bench-"))
            say(f"no --model: exporting a random-init {options.preset} SSHSNet package (seed {BENCH_SEED}) "
                f"to a temporary folder")
            package = export_bench_package(folder, preset=options.preset, fp16=device.startswith("cuda"))
            model = {"package": str(package), "origin": f"random-init {options.preset} SSHSNet exported for this "
                     f"run (seed {BENCH_SEED}), temporary folder removed afterwards", "random_weights": True}
            notes.append("random-init weights: label agreement (Dice) shows the schedules compute the same "
                         "function, not segmentation accuracy")
        else:
            package = Path(options.model)
            model = {"package": str(package), "origin": "given with --model", "random_weights": None}
        if options.scan:
            scan = phantom_input(options.seed) if options.shape is None else shaped_input(options.shape, options.seed)
            say(f"input: {scan.description}")
            measurements = _measure_scan(package, configurations, options, device, scan, say, notes)
        if options.patch_engines:
            extras = _per_patch_figures(package, options, say)

    if baselines_defaulted and not options.baselines:
        notes.append("comparisons left out by default: --baselines reference,monai adds the authors' schedule "
                     "(about 7x spine-rt fast's time per call) and MONAI's sliding window")
    machine_after = machine_snapshot()
    notes += _machine_notes(machine_before, machine_after)
    return BenchReport(
        measurements=measurements,
        model=model,
        input=scan.describe() if scan is not None else {"description": "one stage-two patch per engine"},
        settings={"device": device, "preset": options.preset, "backends": [c.spec for c in configurations],
                  "baselines": list(options.baselines), "repeat": options.repeat, "warmup": options.warmup,
                  "threads": options.threads, "batch_size": options.batch_size, "seed": options.seed},
        environment=describe_environment(),
        machine={"before": machine_before, "after": machine_after},
        notes=notes,
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        extras=extras,
    )


def _measure_scan(package: Path, configurations: Sequence[FastConfiguration], options: BenchOptions, device: str,
                  scan: Any, say: Callable[[str], None], notes: list[str]) -> list[Any]:
    from spine_rt.pipelines.bf16_gate import Bf16Refused

    builders: list[tuple[str, Callable[[], Segmenter]]] = [
        (configuration.label, _fast_builder(package, configuration, device, options.batch_size, options.triton))
        for configuration in configurations
    ]
    for baseline in options.baselines:
        builders.append((baseline, _baseline_builder(package, baseline, device)))
    segmenters: list[Segmenter] = []
    try:
        for index, (label, build) in enumerate(builders):
            say(f"loading configuration {index + 1}/{len(builders)}: {label}")
            try:
                segmenters.append(build())
            except Bf16Refused as refused:  # the pipelines refuse it for this package: left out, with the figure
                notes.append(f"{label} left out: {refused}")
                say(f"  left out: {refused}")
                continue
            refused_note = _refused_bf16(label, segmenters[-1])
            if refused_note is not None:  # timed all the same: a speed figure, not labels to use
                notes.append(refused_note)
                say(f"  {refused_note}")
            too_large = _beyond_memory(segmenters[-1], scan)
            if too_large is not None:  # would be killed for memory mid-run, losing every figure: left out
                segmenters.pop().close()
                notes.append(f"{label} left out: {too_large}")
                say(f"  left out: {too_large}")
                continue
            _limit_runner_threads(segmenters[-1], options.threads)
        if not segmenters:
            raise InputError("no configuration could be loaded: " + "; ".join(notes[-len(builders):]))
        tracker = BenchProgress([s.name for s in segmenters], options.warmup, options.repeat)
        say(tracker.plan_line())
        measurements = measure_interleaved(segmenters, scan.image, scan.affine, options.repeat, options.warmup,
                                           device, on_call=lambda call: say(tracker.record(call)))
    finally:
        for segmenter in segmenters:
            segmenter.close()
    for measurement in measurements:
        say(f"  {measurement.name}: median {measurement.end_to_end.median_s:.3f} s, "
            f"{measurement.stage_two_patches_run}/{measurement.stage_two_patches_total} stage-two patches")
    return measurements


def _per_patch_figures(package: Path, options: BenchOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """One stage-two patch per CPU engine (one thread unless ``threads``) and the matrix-product peaks."""
    from spine_rt.bench.instruments import measure_matmul_peak
    from spine_rt.runtime.machine import usable_cores
    from spine_rt.bench.stage_engines import available_stage_engines, compare_stage_engines

    threads = options.threads or 1
    engines, skipped = available_stage_engines()
    say(f"per-patch comparison on {threads} thread(s): {', '.join(engines)}"
        + (f" (left out: {'; '.join(skipped)})" if skipped else ""))
    comparison = compare_stage_engines(package, engines, threads=threads, repeat=max(1, options.repeat),
                                       progress=say)
    say("measuring the CPU's matrix-product peak (torch.mm, FP32 and BF16)")
    peaks = {"fp32": measure_matmul_peak("fp32", threads).as_dict()}
    if "openvino:bf16" in engines:
        peaks["bf16"] = measure_matmul_peak("bf16", threads).as_dict()
    for timing in comparison["engines"]:
        rate = timing.get("gflops_per_cpu_second")
        peak = peaks.get("bf16" if timing["engine"].endswith("bf16") else "fp32")
        timing["fraction_of_peak"] = None if rate is None or peak is None else rate / peak["gflops_per_cpu_second"]
    comparison["left_out"] = skipped
    scan_threads = options.threads or usable_cores()
    scan_peaks = peaks
    if options.scan and scan_threads != threads:  # whole scans ran on more threads: their peak, too
        say(f"measuring the matrix-product peak on {scan_threads} threads (whole scans)")
        scan_peaks = {dtype: measure_matmul_peak(dtype, scan_threads).as_dict() for dtype in peaks}
    return {"stage_two_per_patch": comparison, "matmul_peak_per_patch": peaks, "matmul_peak": scan_peaks}


def _resolve_device(device: str | None) -> str:
    from spine_rt.runtime import normalize_device, select_backend

    if device is None:
        return select_backend("auto").device
    return normalize_device(device)


def _resolve_configurations(options: BenchOptions, device: str) -> tuple[list[FastConfiguration], list[str]]:
    from spine_rt.runtime import available_backends, select_backend
    from spine_rt.runtime.machine import cpu_capabilities

    if options.backends:
        chosen = [parse_configuration(spec) for spec in options.backends]
        for configuration in chosen:
            if configuration.backend != "triton":  # triton runs on its servers; load_pipeline checks they are ready
                select_backend(configuration.backend, device)  # EnvironmentProblem with the install hint when missing
        return list(dict.fromkeys(chosen)), []
    available = [choice.name for choice in available_backends(device)]
    return default_configurations(options.preset, available, device, cpu_capabilities().native_bf16)


def _refused_bf16(label: str, segmenter: Segmenter) -> str | None:
    """The note for a configuration timed although the BF16 gate refuses it for inference (the bench loads
    with ``bf16_gate="report"``: a benchmark measures the speed of every precision asked for, and says
    which ones the pipelines would refuse, with the figure)."""
    groups = segmenter.runner_groups() if hasattr(segmenter, "runner_groups") else {}
    failed = [f"{stage} {100 * runner.bf16_verdict.argmax_agreement:.2f} %"
              for stage, runners in groups.items() for runner in runners
              if getattr(runner, "bf16_verdict", None) is not None and not runner.bf16_verdict.passed]
    if not failed:
        return None
    from spine_rt.pipelines.bf16_gate import MIN_ARGMAX_AGREEMENT

    return (f"{label}: timed, but the BF16 gate refuses it for inference (argmax agreement with FP32 "
            f"{', '.join(failed)}; limit {100 * MIN_ARGMAX_AGREEMENT:.1f} %): its labels are not for use")


def _fast_builder(package: Path, configuration: FastConfiguration, device: str,
                  batch_size: int | None, triton: Any = None) -> Callable[[], Segmenter]:
    def build() -> Segmenter:
        from spine_rt.bench.segmenters import PipelineSegmenter
        from spine_rt.pipelines import load_pipeline

        remote = ({"servers": triton[0], "model_name_prefix": triton[1]}
                  if configuration.backend == "triton" else {})
        pipeline = load_pipeline(package, backend=configuration.backend, device=None if remote else device,
                                 schedule="fast", batch_size=batch_size, precision=configuration.precision,
                                 bf16_gate="report", **remote)
        return PipelineSegmenter(configuration.label, "spine-rt", pipeline)

    return build


def _beyond_memory(segmenter: Segmenter, scan: Any) -> str | None:
    """Why ``segmenter`` cannot run on ``scan`` in the memory available now, or ``None`` (also when it
    gives no estimate)."""
    from spine_rt.pipelines.schedules.batch_memory import available_memory_bytes

    estimate = getattr(segmenter, "memory_needed", None)
    need = estimate(scan.image, scan.affine) if estimate is not None else None
    available = available_memory_bytes()
    if need is None or available is None or need <= available:
        return None
    return (f"needs about {need / 2**30:.1f} GiB for this input (estimate), {available / 2**30:.1f} GiB is "
            f"available")


def _baseline_builder(package: Path, baseline: str, device: str) -> Callable[[], Segmenter]:
    def build() -> Segmenter:
        if baseline == "reference":
            from spine_rt.bench.segmenters import reference_baseline

            return reference_baseline(package, device)
        from spine_rt.bench.segmenters import MonaiBaseline

        return MonaiBaseline.from_package(package, device)

    return build


def _limit_torch_threads(threads: int | None) -> None:
    if threads is None:
        return
    from spine_rt.dependencies import is_available

    if is_available("torch"):
        import torch

        torch.set_num_threads(threads)


def _limit_runner_threads(segmenter: Segmenter, threads: int | None) -> None:
    """onnxruntime and OpenVINO runners read ``threads`` when they activate (on first use)."""
    if threads is None:
        return
    for runners in segmenter.runner_groups().values():
        for runner in runners:
            backend = getattr(runner, "backend", "")
            if backend == "openvino" or (backend == "onnxruntime" and not runner.is_active):
                runner.threads = threads  # an active OpenVINO runner recompiles (from its model cache)


def _machine_notes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    cores = max(1, int(before.get("usable_cores") or 1))
    loads = [facts["load_average_1_5_15_min"][0] for facts in (before, after)
             if facts.get("load_average_1_5_15_min")]
    if loads and max(loads) > BUSY_LOAD_PER_CORE * cores:
        return [f"the machine was busy (1-minute load {', '.join(f'{v:.2f}' for v in loads)} on {cores} cores, "
                "before/after): absolute times are inflated; the configurations were timed round by round, so "
                "their ratios saw the same load"]
    return []
