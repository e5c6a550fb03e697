"""PipelineOptions: defaults filled in once, every value checked, frozen; load_pipeline and the CLI pass None."""

from __future__ import annotations

import dataclasses

import pytest

import spine_rt
from spine_rt.errors import InputError
from spine_rt.pipelines.options import (
    DEFAULT_STAGE_ONE_BATCH_SIZE,
    DEFAULT_STAGE_TWO_BATCH_SIZE,
    PipelineOptions,
)
from spine_rt.pipelines.schedules.reference import PAPER_BATCH_SIZE


def test_none_means_the_default_and_is_filled_in_on_construction():
    options = PipelineOptions(host_threads=False)
    assert options == PipelineOptions(backend="auto", schedule="fast", roi=True, tta=False, pipelining="auto",
                                      host_threads=False, relabel_levels=False, verify=True, roi_margin_mm=20.0,
                                      overlap=0.5, batch_size=DEFAULT_STAGE_TWO_BATCH_SIZE,
                                      stage_one_batch_size=DEFAULT_STAGE_ONE_BATCH_SIZE)
    assert options.device is None and options.precision is None and options.folds is None
    assert options.stage_batches((64, 64, 12)) == (DEFAULT_STAGE_ONE_BATCH_SIZE, DEFAULT_STAGE_TWO_BATCH_SIZE)


def test_the_reference_schedule_has_its_own_batch_defaults():
    options = PipelineOptions(schedule="reference", stage_one_batch_size=3)
    assert options.batch_size == PAPER_BATCH_SIZE and options.stage_one_batch_size is None
    assert options.stage_batches((64, 64, 12)) == (12, PAPER_BATCH_SIZE)  # one outer window: the patch depth
    assert PipelineOptions(schedule="reference", batch_size=5).batch_size == 5


def test_options_are_frozen_and_replace_checks_again():
    options = PipelineOptions(host_threads=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tta = True  # type: ignore[misc]
    assert options.replace(backend="onnxruntime", device="cpu").backend == "onnxruntime"
    with pytest.raises(InputError, match="overlap must lie in"):
        options.replace(overlap=1.0)


@pytest.mark.parametrize(("given", "message"), [
    ({"schedule": "slow"}, "unknown schedule 'slow'; valid schedules: fast, reference"),
    ({"schedule": "reference", "tta": True}, "reference schedule reproduces the authors' inference"),
    ({"roi_margin_mm": -1}, "roi_margin_mm must be >= 0 mm"),
    ({"roi_margin_mm": "wide"}, "roi_margin_mm must be a number"),
    ({"overlap": float("nan")}, "overlap must be finite"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"stage_one_batch_size": True}, "stage_one_batch_size must be a positive integer"),
    ({"pipelining": "on"}, "unknown pipelining 'on'"),
    ({"host_threads": "yes"}, "host_threads must be True, False or None"),
    ({"maps_dtype": "bfloat16"}, "unknown maps_dtype 'bfloat16'; valid: auto, float32, float16"),
])
def test_an_invalid_option_is_one_input_error(given, message):
    with pytest.raises(InputError, match=message):
        PipelineOptions(**given)


def test_an_xray_package_refuses_the_spine_mr_options_given():
    with pytest.raises(InputError, match="an X-ray package; schedule, roi apply to spine MR packages only"):
        spine_rt.load_pipeline("demo-xray", schedule="fast", roi=True)


@pytest.mark.torch
def test_load_pipeline_hands_the_resolved_options_to_the_pipeline(tiny_package):
    with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", batch_size=2,
                                host_threads=False) as pipe:
        options = pipe.options
    assert (options.backend, options.device, options.precision) == ("onnxruntime", "cpu", "fp32")
    assert options.batch_size == 2 and options.stage_one_batch_size == DEFAULT_STAGE_ONE_BATCH_SIZE
    assert options.host_threads is False and options.schedule == "fast"


@pytest.mark.torch
def test_float16_stage_one_maps_on_request_change_almost_no_label(tiny_package):
    """fp32 keeps exact float32 maps by default; float16 on request: the report says which ran, and the labels
    agree (benchmarks/RESULTS.md measures it on phantoms and real scans: about 4e-6 of the voxels differ)."""
    import numpy as np

    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(0, spacing=(4.4, 2.0, 2.0))
    labels = {}
    for given, expected in ((None, "float32"), ("float16", "float16")):
        with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu", host_threads=False,
                                    maps_dtype=given) as pipe:
            result = pipe(phantom.image, phantom.affine)
        labels[expected] = result.labels
        assert result.report["maps_dtype"] == expected
    assert np.mean(labels["float32"] != labels["float16"]) <= 1e-3


def test_auto_maps_dtype_follows_the_precision():
    from spine_rt.pipelines.schedules.stage_one import choose_maps_dtype

    assert PipelineOptions().maps_dtype == "auto"
    assert [choose_maps_dtype("auto", p) for p in ("fp32", "fp16", "bf16", None)] == [
        "float32", "float16", "float16", "float32"]
    assert choose_maps_dtype("float16", "fp32") == "float16" and choose_maps_dtype("float32", "fp16") == "float32"


@pytest.mark.torch
def test_a_package_recorded_level_recount_is_the_default_and_an_explicit_option_wins(tiny_package, tmp_path):
    """``manifest.postprocessing.relabel_levels`` (written by ``spine-rt export --relabel-levels``, as
    scripts/train_real.sh does) is the pipeline's default; ``relabel_levels=False`` still turns it off."""
    import json
    import shutil

    copy = tmp_path / "package"
    shutil.copytree(tiny_package.root, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["postprocessing"] = {"relabel_levels": True}
    (copy / "manifest.json").write_text(json.dumps(data))
    for given, expected in ((None, True), (False, False)):
        with spine_rt.load_pipeline(copy, backend="onnxruntime", device="cpu", relabel_levels=given) as pipe:
            assert pipe.relabel_levels is expected and pipe.options.relabel_levels is expected
    with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu") as pipe:
        assert pipe.relabel_levels is False  # nothing recorded: the pipeline's default
