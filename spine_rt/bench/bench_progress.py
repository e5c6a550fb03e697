"""Progress of a benchmark while it runs: which configuration, which round, how long is left.

``spine-rt bench`` calls every configuration once per round (after its
warm-up calls); :class:`BenchProgress` is told about every finished call and
returns the line to print, e.g.::

    [round 2/3] spine-rt fast (openvino): 6.12 s; about 1 min 05 s left

The time left is the sum, over the calls still to make, of each
configuration's mean call time so far; until every configuration has made
one call it is unknown ("time left known after the first call of each").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WARM_UP = "warm-up"
TIMED = "timed"


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class CallDone:
    """One finished call: configuration, phase (``"warm-up"`` / ``"timed"``), 1-based round, seconds."""

    configuration: str
    phase: str
    round: int
    seconds: float


class BenchProgress:
    """Counts the calls of an interleaved measurement and estimates the time left.

    Args:
        configurations: names, in call order.
        warmup: untimed calls of each configuration, made first (one configuration after another).
        repeat: timed rounds (one call of every configuration per round).
    """

    def __init__(self, configurations: Sequence[str], warmup: int, repeat: int) -> None:
        if not configurations:
            raise ValueError("no configuration to measure")
        self.configurations = list(configurations)
        self.warmup = int(warmup)
        self.repeat = int(repeat)
        self._seconds: dict[str, list[float]] = {name: [] for name in self.configurations}

    @property
    def total_calls(self) -> int:
        return len(self.configurations) * (self.warmup + self.repeat)

    @property
    def calls_done(self) -> int:
        return sum(len(values) for values in self._seconds.values())

    def plan_line(self) -> str:
        """One line: the configurations and the calls that will be made."""
        return (f"plan: {len(self.configurations)} configuration(s) ({', '.join(self.configurations)}); "
                f"{self.warmup} warm-up call(s) each, then {self.repeat} round(s) of one timed call each "
                f"= {self.total_calls} calls")

    def seconds_left(self) -> float | None:
        """Estimated seconds of the calls still to make; ``None`` until every configuration has one call."""
        means = {}
        for name, values in self._seconds.items():
            if not values:
                return None
            means[name] = sum(values) / len(values)
        return sum(means[name] * (self.warmup + self.repeat - len(values))
                   for name, values in self._seconds.items())

    def record(self, call: CallDone) -> str:
        """Count ``call`` and return its progress line.

        Raises:
            ValueError: an unknown configuration.
        """
        if call.configuration not in self._seconds:
            raise ValueError(f"unknown configuration {call.configuration!r}")
        self._seconds[call.configuration].append(float(call.seconds))
        if call.phase == WARM_UP:
            where = f"warm-up {call.round}/{self.warmup}"
        else:
            where = f"round {call.round}/{self.repeat}"
        left = self.seconds_left()
        if self.calls_done >= self.total_calls:
            tail = "done"
        elif left is None:
            tail = "time left known after the first call of each configuration"
        else:
            tail = f"about {format_duration(left)} left"
        return f"[{where}, call {self.calls_done}/{self.total_calls}] {call.configuration}: {call.seconds:.2f} s; {tail}"
