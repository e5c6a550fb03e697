"""Measuring fake segmenters: warm-up calls first, then one timed call of each per round; fields filled."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.configuration_measurement import measure, measure_interleaved
from spine_rt.bench.segmenters import Segmentation


class FakeRunner:
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def infer(self, feed):
        self.log.append(f"{self.name} infer")
        return {}


class FakeSegmenter:
    """Labels of known value; one runner call per stage per segment call."""

    kind = "baseline"

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.runners = {"stage1": [FakeRunner(log, name)], "stage2": [FakeRunner(log, name)]}

    def segment(self, image, affine):
        self.log.append(f"{self.name} segment")
        for runners in self.runners.values():
            runners[0].infer({})
        return Segmentation(np.full(image.shape, 3, np.uint8), {"stage_one": 0.0, "stage_two": 0.0}, 5, 7,
                            {"stage_one_slices": 12})

    def runner_groups(self):
        return self.runners

    def describe(self):
        return {"schedule": "fake"}

    def close(self):
        pass


def test_interleaved_order_and_fields():
    log: list[str] = []
    first, second = FakeSegmenter("a", log), FakeSegmenter("b", log)
    image = np.zeros((2, 3, 4), np.float32)
    results = measure_interleaved([first, second], image, np.eye(4), repeat=2, warmup=1, device="cpu")
    calls = [entry.split()[0] for entry in log if entry.endswith("segment")]
    assert calls == ["a", "b", "a", "b", "a", "b"]  # warm-ups, then two rounds
    for result, name in zip(results, ("a", "b")):
        assert result.name == name
        assert len(result.end_to_end.samples_s) == 2
        assert set(result.stages) == {"stage_one", "stage_two"}
        assert set(result.backend_by_stage) == {"stage1", "stage2"}
        assert 0.0 <= result.overhead_fraction <= 1.0
        assert (result.stage_two_patches_run, result.stage_two_patches_total) == (5, 7)
        assert result.counts == {"stage_one_slices": 12}
        assert result.voxels == image.size
        assert result.peak_host_memory_bytes > 0
        assert result.peak_gpu_memory_bytes is None
        assert result.timer == "perf_counter"
        assert np.all(result.labels == 3)
        entry = result.as_dict()
        assert "labels" not in entry and entry["patches_per_s"] > 0
    assert "infer" not in vars(first.runners["stage1"][0])  # the clock unwrapped the runners


def test_measure_one_and_bad_counts():
    log: list[str] = []
    result = measure(FakeSegmenter("a", log), np.zeros((1, 2, 2)), np.eye(4), repeat=1, warmup=0, device="cpu")
    assert len(result.end_to_end.samples_s) == 1
    with pytest.raises(ValueError):
        measure(FakeSegmenter("a", log), np.zeros((1, 2, 2)), np.eye(4), repeat=0, warmup=0, device="cpu")
