"""``run_bench``: spine-rt's fast schedule on each backend against the baselines, one scan, one run.

The library side of ``spine-rt bench``. In order:

1. the package: ``model`` or, without one, a seeded random-init tiny
   SSHSNet exported to a temporary folder (removed afterwards);
2. the scan: the MRSpineSeg-geometry phantom or a phantom of ``shape``;
3. spine-rt fast on every backend asked for (default: every backend available
   on the device, best first); the first is the *primary* configuration;
4. the baselines on the same weights and scan: ``reference`` (the authors'
   schedule, torch FP32) and ``monai`` (MONAI's sliding window, torch FP32);
5. every configuration is built (all stay loaded), warmed up, then timed
   round by round, one call of each per round
   (:func:`~spine_rt.bench.configuration_measurement.measure_interleaved`),
   so a drifting machine load affects all of them alike.

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

from spine_rt.bench.bench_input import phantom_input, shaped_input
from spine_rt.bench.bench_package import BENCH_PRESET, BENCH_SEED, export_bench_package
from spine_rt.bench.bench_report import BenchReport
from spine_rt.bench.configuration_measurement import measure_interleaved
from spine_rt.bench.machine_facts import machine_facts
from spine_rt.bench.segmenter import Segmenter
from spine_rt.errors import InputError

#: names accepted in ``baselines``
BASELINES: tuple[str, ...] = ("reference", "monai")
#: backends spine-rt can run a pipeline on
PIPELINE_BACKENDS: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch", "triton")
DEFAULT_REPEAT = 3
DEFAULT_WARMUP = 1
#: above this 1-minute load per usable core the report says the machine was busy
BUSY_LOAD_PER_CORE = 1.25


@dataclass(frozen=True)
class BenchOptions:
    """What ``run_bench`` measures (every field has the CLI's meaning; ``None`` = default).

    Attributes:
        model: model package folder; ``None`` exports a random-init tiny package.
        backends: spine-rt backends for the fast schedule; ``None``: every available one.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``; ``None``: the auto backend's device.
        shape: input ``(slices, S-I, A-P)``; ``None``: the MRSpineSeg-geometry phantom.
        seed: phantom seed.
        repeat / warmup: timed / untimed calls per configuration.
        baselines: a subset of :data:`BASELINES`.
        threads: torch and onnxruntime intra-op threads; ``None``: their defaults.
        batch_size: stage-two windows per call of spine-rt fast (default 4).
        triton: backend ``triton``: ``(servers or TritonServerPool, model name prefix)``.
    """

    model: str | os.PathLike[str] | None = None
    backends: Sequence[str] | None = None
    device: str | None = None
    shape: Sequence[int] | None = None
    seed: int = 0
    repeat: int = DEFAULT_REPEAT
    warmup: int = DEFAULT_WARMUP
    baselines: Sequence[str] = BASELINES
    threads: int | None = None
    batch_size: int | None = None
    triton: Any = None

    def checked(self) -> BenchOptions:
        """Validate the options.

        Raises:
            InputError: an unknown backend or baseline, ``repeat < 1``,
                ``warmup < 0``, ``threads < 1``.
        """
        if self.repeat < 1:
            raise InputError(f"--repeat must be at least 1, got {self.repeat}")
        if self.warmup < 0:
            raise InputError(f"--warmup must be at least 0, got {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be at least 1, got {self.threads}")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise InputError(f"unknown baseline {unknown[0]!r}; valid baselines: {', '.join(BASELINES)}")
        for backend in self.backends or ():
            if backend not in PIPELINE_BACKENDS:
                raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(PIPELINE_BACKENDS)}")
        if ("triton" in (self.backends or ())) != (self.triton is not None):
            raise InputError("backend triton and its servers go together (--backend triton --server HOST:PORT)")
        return self


def run_bench(options: BenchOptions, progress: Callable[[str], None] | None = None) -> BenchReport:
    """Measure spine-rt fast on each backend and the baselines (see the module docstring).

    Args:
        options: what to measure.
        progress: receives one line per step (e.g. ``print``); ``None``: silent.

    Raises:
        InputError: bad options, a bad package or shape.
        EnvironmentProblem: a requested backend, device or baseline dependency is missing.
    """
    from spine_rt.runtime import describe_environment

    options = options.checked()
    say = progress or (lambda line: None)
    notes: list[str] = []
    machine_before = machine_facts()
    _limit_torch_threads(options.threads)
    device = _resolve_device(options.device)

    with ExitStack() as cleanup:
        if options.model is None:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="spine-rt-bench-"))
            say(f"no --model: exporting a random-init {BENCH_PRESET} SSHSNet package (seed {BENCH_SEED}) "
                f"to a temporary folder")
            package = export_bench_package(folder, fp16=device.startswith("cuda"))
            model = {"package": str(package), "origin": f"random-init {BENCH_PRESET} SSHSNet exported for this "
                     f"run (seed {BENCH_SEED}), temporary folder removed afterwards", "random_weights": True}
            notes.append("random-init weights: label agreement (Dice) shows the schedules compute the same "
                         "function, not segmentation accuracy")
        else:
            package = Path(options.model)
            model = {"package": str(package), "origin": "given with --model", "random_weights": None}
        scan = phantom_input(options.seed) if options.shape is None else shaped_input(options.shape, options.seed)
        say(f"input: {scan.description}")

        backends = _resolve_backends(options.backends, device)
        builders: list[Callable[[], Segmenter]] = [
            _fast_builder(package, backend, device, options.batch_size, options.triton)
            for backend in backends
        ]
        for baseline in options.baselines:
            builders.append(_baseline_builder(package, baseline, device))

        segmenters: list[Segmenter] = []
        try:
            for build in builders:
                segmenters.append(build())
                _limit_runner_threads(segmenters[-1], options.threads)
            say(f"measuring {', '.join(s.name for s in segmenters)}: {options.warmup} warm-up call(s) each, then "
                f"{options.repeat} round(s) of one timed call each")
            measurements = measure_interleaved(segmenters, scan.image, scan.affine, options.repeat, options.warmup,
                                               device)
        finally:
            for segmenter in segmenters:
                segmenter.close()
        for measurement in measurements:
            say(f"  {measurement.name}: median {measurement.end_to_end.median_s:.3f} s, "
                f"{measurement.stage_two_patches_run}/{measurement.stage_two_patches_total} stage-two patches")

    machine_after = machine_facts()
    notes += _machine_notes(machine_before, machine_after)
    return BenchReport(
        measurements=measurements,
        model=model,
        input=scan.describe(),
        settings={"device": device, "backends": list(backends), "baselines": list(options.baselines),
                  "repeat": options.repeat, "warmup": options.warmup, "threads": options.threads,
                  "batch_size": options.batch_size, "seed": options.seed},
        environment=describe_environment(),
        machine={"before": machine_before, "after": machine_after},
        notes=notes,
        date=datetime.datetime.now().isoformat(timespec="seconds"),
    )


def _resolve_device(device: str | None) -> str:
    from spine_rt.runtime import normalize_device, select_backend

    if device is None:
        return select_backend("auto").device
    return normalize_device(device)


def _resolve_backends(backends: Sequence[str] | None, device: str) -> list[str]:
    from spine_rt.runtime import available_backends, select_backend

    if backends:
        for backend in backends:
            if backend != "triton":  # triton runs on its servers; load_pipeline checks that they are ready
                select_backend(backend, device)  # EnvironmentProblem with the install hint when missing
        return list(dict.fromkeys(backends))
    found = [choice.name for choice in available_backends(device)]
    return list(dict.fromkeys(found))


def _fast_builder(package: Path, backend: str, device: str, batch_size: int | None,
                  triton: Any = None) -> Callable[[], Segmenter]:
    def build() -> Segmenter:
        from spine_rt.bench.pipeline_segmenter import PipelineSegmenter
        from spine_rt.pipelines import load_pipeline

        remote = {"servers": triton[0], "model_name_prefix": triton[1]} if backend == "triton" else {}
        pipeline = load_pipeline(package, backend=backend, device=None if remote else device, schedule="fast",
                                 batch_size=batch_size, **remote)
        return PipelineSegmenter(f"spine-rt fast ({backend})", "spine-rt", pipeline)

    return build


def _baseline_builder(package: Path, baseline: str, device: str) -> Callable[[], Segmenter]:
    def build() -> Segmenter:
        if baseline == "reference":
            from spine_rt.bench.reference_baseline import reference_baseline

            return reference_baseline(package, device)
        from spine_rt.bench.monai_baseline import MonaiBaseline

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
    """onnxruntime runners read ``threads`` when their session is created (on first use)."""
    if threads is None:
        return
    for runners in segmenter.runner_groups().values():
        for runner in runners:
            if getattr(runner, "backend", "") == "onnxruntime" and not runner.is_active:
                runner.threads = threads


def _machine_notes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    cores = max(1, int(before.get("usable_cores") or 1))
    loads = [facts["load_average_1_5_15_min"][0] for facts in (before, after)
             if facts.get("load_average_1_5_15_min")]
    if loads and max(loads) > BUSY_LOAD_PER_CORE * cores:
        return [f"the machine was busy (1-minute load {', '.join(f'{v:.2f}' for v in loads)} on {cores} cores, "
                "before/after): absolute times are inflated; the configurations were timed round by round, so "
                "their ratios saw the same load"]
    return []
