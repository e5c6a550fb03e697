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
``infer`` returns, so host timing is exact here also on a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class RunnerClock:
    """Sums the seconds spent in ``infer`` of groups of runners (see the module docstring).

    Args:
        groups: group name (a stage) -> the runners of that group.
    """

    def __init__(self, groups: Mapping[str, Iterable[Any]]) -> None:
        self._groups = {name: tuple(runners) for name, runners in groups.items()}
        self.seconds: dict[str, float] = {name: 0.0 for name in self._groups}
        self.calls: dict[str, int] = {name: 0 for name in self._groups}
        self._installed: list[Any] = []

    def reset(self) -> None:
        """Zero the sums (between repeats)."""
        for name in self.seconds:
            self.seconds[name] = 0.0
            self.calls[name] = 0

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
            started = time.perf_counter()
            try:
                return infer(*args, **kwargs)
            finally:
                self.seconds[group] += time.perf_counter() - started
                self.calls[group] += 1

        return timed_infer
