"""Build options and shape profiles (spine_rt.engines.options).

Build options: defaults resolved in one place, bad values rejected in one line.

Optimization profiles from the manifest's input shapes and the batch range.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spine_rt.engines import BatchRange, BuildOptions, ShapeRange, stage_shape_ranges
from spine_rt.engines.options import DEFAULT_MAX_BATCH, describe_profile
from spine_rt.errors import InputError
from spine_rt.model_package import Stage, TensorEntry


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


def _stage(*inputs: TensorEntry) -> Stage:
    return Stage(network="n", preset="tiny", config={}, patch_size=(192, 192, 12), inputs=inputs,
                 outputs=(TensorEntry("logits", (None, 20, 192, 192, 12)),))


def test_dynamic_batch_takes_the_batch_range_and_keeps_the_patch():
    stage = _stage(TensorEntry("image", (None, 21, 192, 192, 12)), TensorEntry("features", (None, 512, 48, 48, 12)))
    image, features = stage_shape_ranges(stage, BatchRange(1, 4, 8))
    assert image == ShapeRange("image", (1, 21, 192, 192, 12), (4, 21, 192, 192, 12), (8, 21, 192, 192, 12))
    assert features.min == (1, 512, 48, 48, 12) and features.max == (8, 512, 48, 48, 12)


def test_static_input_keeps_its_shape():
    (scale,) = stage_shape_ranges(_stage(TensorEntry("scale", (1, 3))), BatchRange(1, 2, 2))
    assert scale.min == scale.opt == scale.max == (1, 3)


def test_dynamic_spatial_axis_is_refused():
    with pytest.raises(InputError, match=r"dynamic axes \[0, 2\].*only the batch axis") as exc:
        stage_shape_ranges(_stage(TensorEntry("image", (None, 3, None, 64))), BatchRange(1, 1, 1), "stage1")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("low", "opt", "high", "message"),
    [
        (1, 8, 4, "min <= opt <= max, got min 1, opt 8, max 4"),
        (4, 2, 8, "min <= opt <= max"),
        (0, 1, 1, "min batch must be a positive integer, got 0"),
        (1, 1, -3, "max batch must be a positive integer"),
        (1, 2.5, 4, "opt batch must be a positive integer"),
        (True, 1, 1, "min batch must be a positive integer"),
    ],
)
def test_bad_batch_ranges_are_one_line(low, opt, high, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as exc:
        BatchRange(low, opt, high)
    assert "\n" not in str(exc.value)


def test_shape_range_covers_and_round_trips():
    shape_range = ShapeRange("image", (1, 3, 64), (2, 3, 64), (4, 3, 64))
    assert shape_range.covers((3, 3, 64)) and not shape_range.covers((5, 3, 64)) and not shape_range.covers((1, 3))
    assert ShapeRange.from_dict(shape_range.to_dict()) == shape_range
    assert describe_profile([shape_range]) == "image min (1, 3, 64) opt (2, 3, 64) max (4, 3, 64)"


def test_shape_range_checks_order():
    with pytest.raises(InputError, match="min <= opt <= max on every axis"):
        ShapeRange("image", (2, 3), (1, 3), (4, 3))
