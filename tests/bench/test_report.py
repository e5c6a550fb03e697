"""Median and nearest-rank 95th percentile of repeated timings."""

from __future__ import annotations

import pytest

from spine_rt.bench.report import LatencySummary, percentile


def test_median_and_p95():
    summary = LatencySummary.of([3.0, 1.0, 2.0])
    assert summary.median_s == 2.0
    assert summary.p95_s == 3.0  # fewer than 20 samples: the maximum
    assert summary.samples_s == (3.0, 1.0, 2.0)
    assert summary.as_dict() == {"median_s": 2.0, "p95_s": 3.0, "samples_s": [3.0, 1.0, 2.0]}


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([5.0], 95) == 5.0


def test_no_samples():
    with pytest.raises(ValueError):
        LatencySummary.of([])
