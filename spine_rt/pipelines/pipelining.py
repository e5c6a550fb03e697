"""Which fast schedule runs: the host one, or the device one with or without two CUDA streams.

``pipelining`` (an option of :func:`~spine_rt.pipelines.load.load_pipeline` and
:class:`~spine_rt.pipelines.spine_mr_pipeline.SpineMrPipeline`):

* ``"auto"`` (default): ``"two-stream"`` for the fast schedule when both
  stages run torch or TensorRT runners on one CUDA device; ``"off"`` otherwise.
* ``"two-stream"``: the device schedule
  (:class:`~spine_rt.pipelines.device_fast_schedule.DeviceFastSchedule`) with
  stage one of slab ``k + 1`` on one CUDA stream while stage two of slab ``k``
  runs on another; needs a CUDA device.
* ``"sequential"``: the device schedule, slabs in the same order on one
  stream (also on the CPU with torch runners; for comparisons and tests).
* ``"off"``: the host schedule (:class:`~spine_rt.pipelines.fast_schedule.FastSchedule`),
  numpy between the network calls.

The choice and why are in every report (``settings["pipelining"]``,
``settings["pipelining_reason"]``).
"""

from __future__ import annotations

from dataclasses import dataclass

from spine_rt.errors import InputError
from spine_rt.pipelines.stage_runners import StageRunners

PIPELINING_MODES: tuple[str, ...] = ("auto", "two-stream", "sequential", "off")
#: backends whose runners take device tensors and order themselves on torch's current stream
DEVICE_BACKENDS: tuple[str, ...] = ("torch", "tensorrt")


@dataclass(frozen=True)
class PipeliningChoice:
    """What runs: ``mode`` is ``"two-stream"``, ``"sequential"`` or ``"off"``; ``reason`` says why."""

    mode: str
    reason: str


def check_pipelining(value: object) -> str:
    """``value`` if it is one of :data:`PIPELINING_MODES`.

    Raises:
        InputError: one line naming the valid values.
    """
    if not isinstance(value, str) or value not in PIPELINING_MODES:
        raise InputError(f"unknown pipelining {value!r}; valid values: {', '.join(PIPELINING_MODES)}")
    return value


def choose_pipelining(requested: str, schedule: str, stage_one: StageRunners,
                      stage_two: StageRunners) -> PipeliningChoice:
    """Resolve ``requested`` for a pipeline of ``schedule`` on these runners.

    Raises:
        InputError: an unknown value, or ``"two-stream"`` / ``"sequential"``
            where the device schedule cannot run (with the reason).
    """
    check_pipelining(requested)
    if requested == "off":
        return PipeliningChoice("off", "pipelining='off' asked for: host fast schedule")
    problem = _device_schedule_problem(schedule, stage_one, stage_two)
    on_cuda = stage_two.device.startswith("cuda")
    if requested == "auto":
        if problem is not None:
            return PipeliningChoice("off", f"auto: host schedule, {problem}")
        if not on_cuda:
            return PipeliningChoice("off", f"auto: host schedule, two streams need a CUDA device "
                                           f"(runners on {stage_two.device})")
        return PipeliningChoice("two-stream", f"auto: fast schedule with {stage_two.backend} runners on "
                                              f"{stage_two.device}: stage one and stage two on two CUDA streams")
    if problem is not None:
        raise InputError(f"pipelining={requested!r} needs the device fast schedule, but {problem}; "
                         "use pipelining='off'")
    if requested == "two-stream" and not on_cuda:
        raise InputError(f"pipelining='two-stream' needs a CUDA device, the runners are on {stage_two.device}; "
                         "use 'sequential' or 'off'")
    return PipeliningChoice(requested, f"pipelining={requested!r} asked for")


def _device_schedule_problem(schedule: str, stage_one: StageRunners, stage_two: StageRunners) -> str | None:
    """Why the device schedule cannot run these stages, or ``None``."""
    if schedule != "fast":
        return f"the {schedule} schedule has no device version"
    for stage in (stage_one, stage_two):
        if stage.backend not in DEVICE_BACKENDS or not all(
                getattr(r, "accepts_torch_tensors", False) for r in stage.runners):
            return f"{stage.name} runs on {stage.backend or 'runners'} that do not take torch tensors " \
                   f"(device schedule: {', '.join(DEVICE_BACKENDS)})"
    if stage_one.device != stage_two.device:
        return f"the stages run on different devices ({stage_one.device}, {stage_two.device})"
    return None
