"""Build options: defaults resolved in one place, bad values rejected in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from spine_rt.engines import BatchRange, BuildOptions
from spine_rt.engines.build_options import DEFAULT_MAX_BATCH
from spine_rt.errors import InputError


def test_defaults():
    options = BuildOptions()
    assert options.resolved_precision == "fp16"
    assert options.resolved_device == "cuda:0"
    assert options.batch_range == BatchRange(1, DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH)
    assert options.workspace_mb is None and options.opt_level is None and options.timing_cache is None


def test_opt_defaults_to_max_and_max_grows_to_explicit_sizes():
    assert BuildOptions(max_batch=8).batch_range == BatchRange(1, 8, 8)
    assert BuildOptions(min_batch=2, opt_batch=6).batch_range == BatchRange(2, 6, 6)
    assert BuildOptions(opt_batch=2, max_batch=8).batch_range == BatchRange(1, 2, 8)


def test_values_are_normalised():
    options = BuildOptions(stages=["stage2"], folds=[0, 1], timing_cache="t.cache", device="cuda")
    assert options.stages == ("stage2",) and options.folds == (0, 1)
    assert options.timing_cache == Path("t.cache") and options.resolved_device == "cuda:0"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"opt_batch": 8, "max_batch": 4}, "min <= opt <= max, got min 1, opt 8, max 4"),
        ({"min_batch": 0}, "min batch must be a positive integer"),
        ({"max_batch": 0}, "max batch must be a positive integer"),
        ({"min_batch": 4, "max_batch": 2}, "min <= opt <= max"),
        ({"workspace_mb": 0}, "workspace must be a positive number of MiB"),
        ({"opt_level": 6}, "opt level must be an integer from 0 to 5"),
        ({"opt_level": -1}, "opt level must be an integer from 0 to 5"),
        ({"precision": "int8"}, "unknown precision 'int8'; valid precisions: fp32, fp16"),
        ({"device": "cpu"}, "built on a CUDA device"),
        ({"device": "gpu0"}, "invalid device 'gpu0'"),
        ({"stages": []}, "--stages needs at least one stage name"),
        ({"folds": [-1]}, "folds must be non-negative integers"),
    ],
)
def test_bad_options_are_one_line(options, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as exc:
        BuildOptions(**options)
    assert "\n" not in str(exc.value)
