"""Where the fast schedule queues its work (``StreamLanes``: two CUDA streams, or in order) and which mode runs.

Three lanes: ``copy`` (host-to-device uploads from pinned memory), ``one``
(stage one) and ``two`` (stage two). With ``two_streams`` on a CUDA device
each lane is its own ``torch.cuda.Stream`` and work is ordered between them
only by CUDA events (``record_event`` / ``wait_event``), so stage one of
slab ``k + 1`` and stage two of slab ``k`` run at the same time; nothing here
calls ``torch.cuda.synchronize``. In order mode on a CUDA device (one stream
asked for) all three lanes share one dedicated stream (not the legacy default
stream 0, on which TensorRT cannot capture CUDA graphs), and :meth:`record`
still records real events on it: the host waits for one before it reads the
stage-one foreground that a non-blocking copy is writing into pinned memory.
On CPU tensors there are no streams and the event methods do nothing: the
same calls in the same order run one after the other, which is how the slab
logic is tested without a GPU. :func:`lane_streams` decides which lane gets
which stream.

Memory across streams: a tensor made on one lane and read on another is
passed to :meth:`StreamLanes.share`, which ``record_stream``-s it so torch's
caching allocator does not hand its memory out again before the reading
lane is done with it.

``pipelining`` (an option of :func:`~spine_rt.pipelines.load.load_pipeline` and
:class:`~spine_rt.pipelines.spine_mr.pipeline.SpineMrPipeline`) picks where the
one fast schedule (:mod:`~spine_rt.pipelines.schedules.fast`) keeps its arrays:

* ``"auto"`` (default): ``"two-stream"`` when both stages run runners that
  take torch tensors on one CUDA device; ``"off"`` otherwise.
* ``"two-stream"``: torch tensors on the runners' CUDA device, stage one of
  slab ``k + 1`` on one stream while stage two of slab ``k`` runs on another.
* ``"sequential"``: torch tensors on the runners' device, one lane (also on
  the CPU with torch runners; for comparisons and tests).
* ``"off"``: numpy arrays on the host between the network calls.

The choice and why are in every report (``settings["pipelining"]``,
``settings["pipelining_reason"]``). Torch is imported only by :class:`StreamLanes`.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from spine_rt.errors import InputError

LANES = ("copy", "one", "two")

#: the one stream every lane shares in order mode on a CUDA device
ORDER_STREAM = "order"


def lane_streams(device_type: str, two_streams: bool) -> dict[str, str]:
    """Lane name -> name of the CUDA stream it runs on (empty where there are no streams: CPU tensors).

    Two streams on CUDA: one stream per lane. Order mode on CUDA: every lane on
    :data:`ORDER_STREAM`, so events are still recorded (the host waits for the
    foreground copy) and runners are never given the legacy default stream.
    """
    if device_type != "cuda":
        return {}
    return {name: (name if two_streams else ORDER_STREAM) for name in LANES}


class StreamLanes:
    """The lanes of one prediction on ``device`` (see the module docstring).

    Args:
        device: a ``torch.device``.
        two_streams: separate CUDA streams per lane (CUDA devices only).
        cache: the streams are made once and kept here (keyed by device), so
            every prediction of one schedule uses the same streams: a TensorRT
            runner keeps one execution context per stream it is given.
    """

    def __init__(self, device: Any, two_streams: bool, cache: dict[Any, dict[str, Any]] | None = None) -> None:
        from spine_rt.dependencies import require

        torch = require("torch", "the fast schedule on a device")
        self._torch = torch
        self.device = device
        self.two_streams = bool(two_streams) and device.type == "cuda"
        self._origin = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self._streams: dict[str, Any] = {}
        plan = lane_streams(device.type, self.two_streams)
        if plan:
            cache = {} if cache is None else cache
            made = cache.setdefault(str(device), {})
            for name in sorted(set(plan.values())):
                if name not in made:
                    made[name] = torch.cuda.Stream(device=device)
            self._streams = {lane: made[stream] for lane, stream in plan.items()}

    def _distinct(self) -> list[Any]:
        """Each stream once (order mode: the one shared stream)."""
        unique: dict[int, Any] = {}
        for stream in self._streams.values():
            unique.setdefault(id(stream), stream)
        return list(unique.values())

    def start(self) -> None:
        """Every lane waits for the work queued so far on the caller's stream (the buffers made before)."""
        for stream in self._distinct():
            stream.wait_stream(self._origin)

    def lane(self, name: str) -> Any:
        """Context manager that makes lane ``name`` torch's current stream (a null context on CPU tensors)."""
        stream = self._streams.get(name)
        return self._torch.cuda.stream(stream) if stream is not None else nullcontext()

    def stream(self, name: str) -> Any:
        """The CUDA stream of lane ``name`` (``None`` on CPU tensors)."""
        return self._streams.get(name)

    def record(self, name: str) -> Any:
        """An event recorded on lane ``name`` now (``None`` on CPU tensors, where work is already done)."""
        stream = self._streams.get(name)
        return stream.record_event() if stream is not None else None

    def wait(self, name: str, event: Any) -> None:
        """Lane ``name`` waits (on the device, not the host) for ``event``."""
        stream = self._streams.get(name)
        if stream is not None and event is not None and self.two_streams:  # one stream is in order already
            stream.wait_event(event)

    def share(self, tensor: Any, *names: str) -> None:
        """``tensor`` is also used on lanes ``names``: keep its memory until their queued work is done."""
        for name in names:
            stream = self._streams.get(name)
            if stream is not None and self.two_streams:  # order mode: made and read on the same stream
                tensor.record_stream(stream)

    def join(self) -> None:
        """The caller's stream waits for every lane (no host synchronisation)."""
        for stream in self._distinct():
            self._origin.wait_stream(stream)


class NullLanes:
    """The lanes of numpy arrays on the host: no streams, no events; work runs as it is queued."""

    def start(self) -> None:
        """Nothing to wait for."""

    def join(self) -> None:
        """Nothing to wait for."""

    def lane(self, name: str) -> Any:
        return nullcontext()

    def stream(self, name: str) -> None:
        return None

    def record(self, name: str) -> None:
        return None

    def wait(self, name: str, event: Any) -> None:
        """Work already ran in order."""

    def share(self, tensor: Any, *names: str) -> None:
        """One thread, no streams."""


def torch_device(device: str) -> tuple[Any, Any]:
    """``(torch, torch.device(device))`` (imports torch)."""
    from spine_rt.dependencies import require

    torch = require("torch", "the fast schedule on a device")
    return torch, torch.device(device)


def host_wait(event: Any) -> None:
    """Block the host until ``event`` has happened (an event wait, not a device synchronisation)."""
    if event is not None:
        event.synchronize()


PIPELINING_MODES: tuple[str, ...] = ("auto", "two-stream", "sequential", "off")


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


def choose_pipelining(requested: str, schedule: str, stage_one: Any, stage_two: Any) -> PipeliningChoice:
    """Resolve ``requested`` for a pipeline of ``schedule`` on these stages' runners.

    Raises:
        InputError: an unknown value, or ``"two-stream"`` / ``"sequential"`` where the fast schedule
            cannot keep its arrays on the runners' device (with the reason).
    """
    check_pipelining(requested)
    if requested == "off":
        return PipeliningChoice("off", "pipelining='off' asked for: fast schedule on numpy arrays")
    problem = _device_problem(schedule, stage_one, stage_two)
    on_cuda = stage_two.device.startswith("cuda")
    if requested == "auto":
        if problem is not None:
            return PipeliningChoice("off", f"auto: numpy arrays on the host, {problem}")
        if not on_cuda:
            return PipeliningChoice("off", f"auto: numpy arrays on the host, two streams need a CUDA device "
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


def _device_problem(schedule: str, stage_one: Any, stage_two: Any) -> str | None:
    """Why the schedule cannot keep torch tensors on the runners' device, or ``None``."""
    if schedule != "fast":
        return f"the {schedule} schedule has no device version"
    on_cuda = str(stage_two.device).startswith("cuda")
    for stage in (stage_one, stage_two):
        if not all(getattr(r, "accepts_torch_tensors", False) for r in stage.runners):
            return f"{stage.name} runs on {stage.backend or 'runners'} that do not take torch tensors"
        if on_cuda and not all(getattr(r, "accepts_streams", False) for r in stage.runners):
            return f"{stage.name} runs on {stage.backend or 'runners'} that do not run on a caller's CUDA stream"
    if stage_one.device != stage_two.device:
        return f"the stages run on different devices ({stage_one.device}, {stage_two.device})"
    return None
