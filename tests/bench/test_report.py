"""The report side of a benchmark (spine_rt.bench.report): median and nearest-rank 95th percentile of
repeated timings, and the progress lines."""

from __future__ import annotations

import pytest

from spine_rt.bench.report import TIMED, WARM_UP, BenchProgress, CallDone, LatencySummary, format_duration, percentile


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


def test_progress_names_the_round_and_estimates_the_time_left():
    progress = BenchProgress(["fast", "authors"], warmup=1, repeat=2)
    assert progress.plan_line().endswith("1 warm-up call(s) each, then 2 round(s) of one timed call each = 6 calls")
    first = progress.record(CallDone("fast", WARM_UP, 1, 2.0))
    assert first.startswith("[warm-up 1/1, call 1/6] fast: 2.00 s;") and "known after the first call" in first
    assert progress.seconds_left() is None
    second = progress.record(CallDone("authors", WARM_UP, 1, 10.0))
    assert progress.seconds_left() == pytest.approx(2 * 2.0 + 2 * 10.0)
    assert second.endswith("about 24 s left")
    third = progress.record(CallDone("fast", TIMED, 1, 4.0))  # fast's mean is now 3 s
    assert third.startswith("[round 1/2, call 3/6] fast: 4.00 s")
    assert progress.seconds_left() == pytest.approx(1 * 3.0 + 2 * 10.0)
    for call in (CallDone("authors", TIMED, 1, 10.0), CallDone("fast", TIMED, 2, 3.0)):
        progress.record(call)
    assert progress.record(CallDone("authors", TIMED, 2, 10.0)).endswith("; done")
    with pytest.raises(ValueError, match="unknown configuration"):
        progress.record(CallDone("monai", TIMED, 1, 1.0))


def test_durations():
    assert [format_duration(s) for s in (4.4, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]
