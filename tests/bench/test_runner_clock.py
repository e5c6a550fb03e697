"""The runner clock wraps ``infer`` of every runner, counts calls per stage and unwraps cleanly."""

from __future__ import annotations

from spine_rt.bench.runner_clock import RunnerClock


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
        try:
            runner.infer({})
        except RuntimeError:
            pass
        assert clock.calls["stage2"] == 1
