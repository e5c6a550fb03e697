"""The runner clock wraps ``infer`` of every runner, counts calls per stage and unwraps cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.runner_clock import RunnerClock, feed_devices, timing_device


class FakeRunner:
    """A runner of known output: ``infer`` returns its feed plus one."""

    def infer(self, feed):
        return {"out": feed["x"] + 1}


def test_counts_calls_per_stage_and_passes_results_through():
    first, second = FakeRunner(), FakeRunner()
    with RunnerClock({"stage1": [first], "stage2": [second]}) as clock:
        assert first.infer({"x": 1}) == {"out": 2}
        second.infer({"x": 1})
        second.infer({"x": 2})
        assert clock.calls == {"stage1": 1, "stage2": 2}
        assert all(seconds >= 0.0 for seconds in clock.seconds.values())
        assert clock.total_seconds == sum(clock.seconds.values())
        clock.reset()
        assert clock.calls == {"stage1": 0, "stage2": 0}
        assert clock.total_seconds == 0.0
    assert "infer" not in vars(first) and "infer" not in vars(second)  # the class method is back
    first.infer({"x": 0})
    assert clock.calls["stage1"] == 0


def test_exceptions_are_counted_and_raised():
    class Failing:
        def infer(self, feed):
            raise RuntimeError("boom")

    runner = Failing()
    with RunnerClock({"stage2": [runner]}) as clock:
        with pytest.raises(RuntimeError, match="boom"):  # the clock must not swallow the runner's error
            runner.infer({})
        assert clock.calls["stage2"] == 1
        assert clock.seconds["stage2"] >= 0.0


def test_host_feeds_are_timed_on_the_host_and_cuda_feeds_with_events():
    """A call fed CUDA tensors returns before its work is done: only CUDA events time it."""
    assert timing_device(["cpu", "cpu"]) is None
    assert timing_device([]) is None
    assert timing_device(["cpu", "cuda:1"]) == "cuda:1"
    assert timing_device(["cuda:0"]) == "cuda:0"


@pytest.mark.torch
def test_feed_devices_reads_numpy_and_torch_feeds():
    import torch

    assert feed_devices(({"x": np.zeros(2), "y": torch.zeros(2)},), {}) == ["cpu", "cpu"]
    assert feed_devices((), {"feed": {"x": np.zeros(2)}}) == ["cpu"]
    runner = FakeRunner()
    with RunnerClock({"stage1": [runner]}) as clock:
        runner.infer({"x": torch.zeros(2)})
        assert clock.calls["stage1"] == 1 and clock.event_timed_calls["stage1"] == 0


@pytest.mark.torch
@pytest.mark.gpu
def test_calls_fed_cuda_tensors_are_timed_with_cuda_events():
    import torch

    class MatmulRunner:
        def infer(self, feed, stream=None):
            x = feed["x"]
            for _ in range(20):
                x = x @ feed["x"]
            return {"out": x}

    runner = MatmulRunner()
    side = torch.cuda.Stream()
    x = torch.rand((1024, 1024), device="cuda:0")
    with RunnerClock({"stage1": [runner]}) as clock:
        runner.infer({"x": x})
        with torch.cuda.stream(side):
            runner.infer({"x": x}, stream=side)
        assert clock.event_timed_calls["stage1"] == 2
        seconds = clock.seconds["stage1"]
    assert seconds > 0.0
