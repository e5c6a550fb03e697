"""One stage's network on each CPU engine, one patch at a time, interleaved: seconds per patch, GFLOP/s, agreement.

The per-patch half of ``spine-rt bench --preset full`` (and of
``--engines``): the same real-looking input
(:func:`spine_rt.export.parity_inputs.parity_inputs`) of one batch goes
through every engine, round by round (one call of each per round, after one
warm-up call each), so a drifting machine load affects them alike.

Engines are ``"onnxruntime:fp32"``, ``"openvino:fp32"``, ``"openvino:bf16"``
and ``"torch:fp32"`` (eager, the package's weights). The first is the
reference for argmax agreement and max abs error. Times are CPU seconds
(``time.process_time``, every thread of this process; on a busy machine
other processes do not count) and wall seconds, median over the rounds.
GFLOP per patch is counted on the network (:func:`spine_rt.models.complexity.forward_flops`,
2 FLOPs per multiply-accumulate, convolutions and matrix products only).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import InputError

#: engines the comparison knows, as ``backend:precision``
STAGE_ENGINES: tuple[str, ...] = ("onnxruntime:fp32", "openvino:fp32", "openvino:bf16", "torch:fp32")


@dataclass(frozen=True)
class EngineTiming:
    """One engine on one batch of the stage.

    Attributes:
        engine: ``backend:precision``.
        cpu_seconds / wall_seconds: median per call over the rounds (s).
        cpu_seconds_per_patch: ``cpu_seconds / batch`` (s).
        gflops_per_cpu_second: stage GFLOP per patch / ``cpu_seconds_per_patch``.
        argmax_agreement / max_abs_error: against the first engine's outputs (class output).
        rounds: the timed calls.
    """

    engine: str
    cpu_seconds: float
    wall_seconds: float
    cpu_seconds_per_patch: float
    gflops_per_cpu_second: float | None
    argmax_agreement: float
    max_abs_error: float
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_engines(items: Sequence[str]) -> tuple[str, ...]:
    """``["openvino:bf16", "onnxruntime"]`` -> validated ``backend:precision`` names (precision default fp32).

    Raises:
        InputError: an unknown engine (lists the valid ones).
    """
    names = []
    for item in items:
        name = item.strip().lower()
        if ":" not in name:
            name += ":fp32"
        if name not in STAGE_ENGINES:
            raise InputError(f"unknown engine {item!r}; valid engines: {', '.join(STAGE_ENGINES)}")
        names.append(name)
    if not names:
        raise InputError(f"no engine given; valid engines: {', '.join(STAGE_ENGINES)}")
    return tuple(dict.fromkeys(names))


def available_stage_engines() -> tuple[list[str], list[str]]:
    """The default engines of the comparison that can run here, and one note per engine left out.

    onnxruntime fp32 (the reference), OpenVINO fp32 when installed, OpenVINO
    bf16 when installed and the CPU has AVX512_BF16 or AMX.
    """
    from spine_rt.dependencies import is_available
    from spine_rt.runtime.machine import cpu_capabilities

    engines, skipped = ["onnxruntime:fp32"], []
    if not is_available("openvino"):
        skipped.append("openvino:fp32 and openvino:bf16 (openvino not installed)")
        return engines, skipped
    engines.append("openvino:fp32")
    if cpu_capabilities().native_bf16:
        engines.append("openvino:bf16")
    else:
        skipped.append("openvino:bf16 (this CPU has neither AVX512_BF16 nor AMX)")
    return engines, skipped


def stage_gflop_per_patch(package: Any, stage_name: str) -> float | None:
    """GFLOP of one patch through the stage's network (``None`` without torch or for an unknown network)."""
    from spine_rt.dependencies import is_available

    if not is_available("torch"):
        return None
    import torch

    from spine_rt.models import build
    from spine_rt.models.complexity import forward_flops

    stage = package.stage(stage_name)
    shapes = [(1, *entry.shape[1:]) for entry in stage.inputs]
    with torch.device("meta"):
        network = build(stage.network, stage.preset, **stage.config)
    return forward_flops(network, *shapes) / 1e9


def _runner(package: Any, stage_name: str, engine: str, threads: int, batch: int):
    backend, precision = engine.split(":")
    path = package.graph_path(stage_name, "fp32")
    label = f"{stage_name} {engine}"
    if backend == "onnxruntime":
        from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, threads=threads, device="cpu", name=label)
    if backend == "openvino":
        from spine_rt.runtime.openvino_runner import OpenVINORunner

        return OpenVINORunner(path, precision=precision, threads=threads, batch=batch, name=label)
    from spine_rt.pipelines.runner_factory import stage_torch_runner

    return stage_torch_runner(package, stage_name, 0, device="cpu", precision=precision)


def compare_stage_engines(
    package: str | Path | Any,
    engines: Sequence[str] = STAGE_ENGINES[:3],
    *,
    stage_name: str = "stage2",
    threads: int = 1,
    repeat: int = 3,
    batch: int = 1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time ``engines`` on one batch of ``stage_name`` of ``package`` (see the module docstring).

    Returns:
        ``{"stage", "batch", "threads", "gflop_per_patch", "engines": [EngineTiming.as_dict()...]}``.

    Raises:
        InputError: bad engines, ``repeat``/``batch``/``threads`` < 1, a bad package.
        EnvironmentProblem: an engine is not installed (or bf16 on a CPU without it).
    """
    from spine_rt.export.model_families import MODEL_FAMILIES
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.model_package import ModelPackage

    names = parse_engines(engines)
    if min(repeat, batch, threads) < 1:
        raise InputError("repeat, batch and threads must be at least 1")
    say = progress or (lambda line: None)
    opened = package if isinstance(package, ModelPackage) else ModelPackage.open(package, verify=False)
    stage = opened.stage(stage_name)
    family = MODEL_FAMILIES.get(opened.manifest.model)
    class_output = family.stage(stage_name).class_output if family is not None else stage.outputs[0].name
    feed = parity_inputs(stage.network, stage.config, stage.patch_size, batch=batch, seed=seed)
    gflop = stage_gflop_per_patch(opened, stage_name)
    _set_torch_threads(threads)
    runners = [_runner(opened, stage_name, name, threads, batch) for name in names]
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, np.ndarray] = {}
    try:
        for name, runner in zip(names, runners):
            say(f"  {stage_name} {name}: compiling and one warm-up call")
            outputs[name] = runner.infer(feed)[class_output]
        for round_index in range(repeat):
            for name, runner in zip(names, runners):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                runner.infer(feed)
                cpu[name].append(time.process_time() - cpu0)
                wall[name].append(time.perf_counter() - wall0)
            say(f"  {stage_name} round {round_index + 1}/{repeat}: "
                + ", ".join(f"{name} {cpu[name][-1]:.2f} CPU s" for name in names))
    finally:
        for runner in runners:
            runner.close()
    reference = outputs[names[0]]
    timings = []
    for name in names:
        per_patch = statistics.median(cpu[name]) / batch
        difference = np.abs(outputs[name].astype(np.float64) - reference)
        timings.append(EngineTiming(
            engine=name, cpu_seconds=statistics.median(cpu[name]), wall_seconds=statistics.median(wall[name]),
            cpu_seconds_per_patch=per_patch, gflops_per_cpu_second=None if gflop is None else gflop / per_patch,
            argmax_agreement=float(np.mean(outputs[name].argmax(1) == reference.argmax(1))),
            max_abs_error=float(difference.max()), rounds=repeat,
        ).as_dict())
    return {"stage": stage_name, "batch": batch, "threads": threads, "gflop_per_patch": gflop,
            "reference_engine": names[0], "engines": timings}


def _set_torch_threads(threads: int) -> None:
    from spine_rt.dependencies import is_available

    if is_available("torch"):
        import torch

        torch.set_num_threads(threads)
