"""``RunnerClock``: time spent inside the backend calls (``runner.infer``) of a pipeline.

The pipeline's own overhead is the end-to-end time minus the time inside
its runners. The clock wraps ``infer`` of every runner with a timing proxy
(an instance attribute shadowing the class method, so nothing in the
pipeline changes) and sums ``time.perf_counter`` intervals per stage::

    with RunnerClock({"stage1": pipe.stage_one.runners, "stage2": pipe.stage_two.runners}) as clock:
        pipe(scan)
    clock.seconds        # {"stage1": 1.2, "stage2": 8.9}

The interval covers the whole call: feed validation, host -> device copies,
the network, device -> host copies. A runner that returns host arrays (as
every runner does when fed numpy arrays) has finished its device work when
``infer`` returns, so host timing is exact there also on a GPU.

A call fed CUDA torch tensors (the device fast schedule) is asynchronous: it
returns as soon as the work is queued, so ``perf_counter`` would measure the
enqueue only. Such a call is timed with two CUDA events recorded on the
stream it is ordered on (its ``stream=`` argument, else torch's current
stream), resolved when :attr:`RunnerClock.seconds` is read (after the
pipeline has waited for its results). :func:`timing_device` decides which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def timing_device(feed_devices: Iterable[str]) -> str | None:
    """The CUDA device (``"cuda:N"``) whose events time a call fed tensors on ``feed_devices``; ``None`` for host timing.

    Args:
        feed_devices: the device of every feed value (``"cpu"`` for numpy arrays and CPU tensors).
    """
    for device in feed_devices:
        if str(device).startswith("cuda"):
            return str(device)
    return None


def feed_devices(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[str]:
    """The device of every value of the feed passed to ``infer`` (first positional argument or ``feed=``)."""
    feed = args[0] if args else kwargs.get("feed", {})
    values = feed.values() if isinstance(feed, Mapping) else ()
    return [str(getattr(value, "device", "cpu")) if getattr(value, "is_cuda", False) else "cpu" for value in values]


class RunnerClock:
    """Sums the seconds spent in ``infer`` of groups of runners (see the module docstring).

    Args:
        groups: group name (a stage) -> the runners of that group.
    """

    def __init__(self, groups: Mapping[str, Iterable[Any]]) -> None:
        self._groups = {name: tuple(runners) for name, runners in groups.items()}
        self._seconds: dict[str, float] = {name: 0.0 for name in self._groups}
        self.calls: dict[str, int] = {name: 0 for name in self._groups}
        #: calls timed with CUDA events (asynchronous calls) since the last reset
        self.event_timed_calls: dict[str, int] = {name: 0 for name in self._groups}
        self._pending: list[tuple[str, Any, Any]] = []  # (group, start event, end event)
        self._installed: list[Any] = []

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per group since the last :meth:`reset` (waits for the events of asynchronous calls)."""
        for group, start, end in self._pending:
            end.synchronize()
            self._seconds[group] += start.elapsed_time(end) / 1000.0
        self._pending.clear()
        return dict(self._seconds)

    def reset(self) -> None:
        """Zero the sums (between repeats)."""
        self._pending.clear()
        for name in self._seconds:
            self._seconds[name] = 0.0
            self.calls[name] = 0
            self.event_timed_calls[name] = 0

    @property
    def total_seconds(self) -> float:
        """Seconds in every runner's ``infer`` since the last :meth:`reset` (s)."""
        return sum(self.seconds.values())

    def install(self) -> None:
        """Wrap every runner's ``infer`` (idempotent)."""
        if self._installed:
            return
        for name, runners in self._groups.items():
            for runner in runners:
                runner.infer = self._timed(name, runner.infer)
                self._installed.append(runner)

    def remove(self) -> None:
        """Give every runner its own ``infer`` back."""
        for runner in self._installed:
            try:
                del runner.infer
            except AttributeError:
                pass
        self._installed.clear()

    def __enter__(self) -> RunnerClock:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def _timed(self, group: str, infer: Callable[..., Any]) -> Callable[..., Any]:
        def timed_infer(*args: Any, **kwargs: Any) -> Any:
            device = timing_device(feed_devices(args, kwargs))
            if device is not None:
                return self._event_timed(group, device, infer, args, kwargs)
            started = time.perf_counter()
            try:
                return infer(*args, **kwargs)
            finally:
                self._seconds[group] += time.perf_counter() - started
                self.calls[group] += 1

        return timed_infer

    def _event_timed(self, group: str, device: str, infer: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        import torch

        stream = kwargs.get("stream")
        if isinstance(stream, int):  # a cudaStream_t handle: torch's view of it (not owned)
            stream = torch.cuda.ExternalStream(stream, device=torch.device(device))
        elif not hasattr(stream, "record_event"):  # no stream given: the call is ordered on the current one
            stream = torch.cuda.current_stream(torch.device(device))
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        try:
            return infer(*args, **kwargs)
        finally:
            end.record(stream)
            self._pending.append((group, start, end))
            self.calls[group] += 1
            self.event_timed_calls[group] += 1
