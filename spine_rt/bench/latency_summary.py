"""``LatencySummary``: median and 95th percentile of repeated timings (s)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySummary:
    """Timings of one quantity over the timed (not warm-up) repeats.

    Attributes:
        median_s: median (s).
        p95_s: 95th percentile, nearest rank (s); the maximum for fewer than 20 samples.
        samples_s: every timing, in run order (s).
    """

    median_s: float
    p95_s: float
    samples_s: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencySummary:
        """Summarise ``samples`` (s); raises ``ValueError`` when there are none."""
        values = tuple(float(v) for v in samples)
        if not values:
            raise ValueError("no timings to summarise")
        return cls(statistics.median(values), percentile(values, 95.0), values)

    def as_dict(self) -> dict[str, object]:
        return {"median_s": self.median_s, "p95_s": self.p95_s, "samples_s": list(self.samples_s)}


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``percent`` % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[rank - 1]
