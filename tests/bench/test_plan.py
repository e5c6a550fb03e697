"""What a benchmark runs (spine_rt.bench.plan): scan shapes and phantoms of exactly the requested size,
presets, default configurations and configuration specs."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.pipeline_benchmark import BenchOptions
from spine_rt.bench.plan import (
    FastConfiguration,
    default_configurations,
    parse_configuration,
    parse_shape,
    shaped_input,
)
from spine_rt.bench.stage_engines import parse_engines
from spine_rt.errors import InputError


def test_parse_shape():
    assert parse_shape("12,512,1024") == (12, 512, 1024)
    assert parse_shape("12x64x128") == (12, 64, 128)


@pytest.mark.parametrize("text", ["12,64", "a,b,c", "12,8,128", "0,64,64", "12,64,128,4", "1000,1000,1000"])
def test_bad_shapes(text):
    with pytest.raises(InputError, match="--shape"):
        parse_shape(text)


def test_shaped_input_has_exactly_the_shape_and_no_zero_voxel():
    scan = shaped_input((12, 64, 128), seed=1)
    assert scan.shape == (12, 64, 128)
    assert scan.image.dtype == np.float32
    assert np.all(scan.image > 0)  # the pipeline's crop to the non-zero extent keeps everything
    spacing = np.linalg.norm(scan.affine[:3, :3], axis=0)
    np.testing.assert_allclose(spacing, (4.4, 0.3448, 0.3448))
    assert scan.describe()["voxels"] == 12 * 64 * 128


CPU_ALL = ["openvino", "onnxruntime", "torch"]


def test_default_run_times_the_engine_auto_picks_and_no_baseline():
    options = BenchOptions().checked()
    assert (options.preset, options.warmup, options.repeat, tuple(options.baselines)) == ("tiny", 1, 3, ())
    assert options.patch_engines is False and options.scan is True
    chosen, notes = default_configurations("tiny", CPU_ALL, "cpu", native_bf16=True)
    assert chosen == [FastConfiguration("openvino")]
    assert notes == ["not timed by default: onnxruntime, torch (--backend openvino onnxruntime torch adds them)"]
    chosen, notes = default_configurations("tiny", ["onnxruntime", "torch"], "cpu", native_bf16=True)
    assert chosen == [FastConfiguration("onnxruntime")] and "torch" in notes[0]


def test_full_preset_defaults():
    options = BenchOptions(preset="full").checked()
    assert (options.warmup, options.repeat, tuple(options.baselines)) == (0, 1, ("reference", "monai"))
    assert options.patch_engines is True
    chosen, notes = default_configurations("full", CPU_ALL, "cpu", native_bf16=True)
    assert [c.label for c in chosen] == ["spine-rt fast (openvino fp32)", "spine-rt fast (openvino bf16)",
                                        "spine-rt fast (onnxruntime)"]
    chosen, notes = default_configurations("full", CPU_ALL, "cpu", native_bf16=False)
    assert [c.spec for c in chosen] == ["openvino:fp32", "onnxruntime"]
    assert any("neither AVX512_BF16 nor AMX" in note for note in notes)
    chosen, notes = default_configurations("full", ["onnxruntime", "torch"], "cpu", native_bf16=True)
    assert [c.spec for c in chosen] == ["onnxruntime"] and any("openvino not installed" in n for n in notes)


def test_given_options_win_over_the_preset():
    options = BenchOptions(preset="full", repeat=2, warmup=1, baselines=(), patch_engines=False).checked()
    assert (options.warmup, options.repeat, tuple(options.baselines), options.patch_engines) == (1, 2, (), False)


def test_gpu_defaults_are_every_gpu_backend():
    chosen, _ = default_configurations("tiny", ["tensorrt", "onnxruntime", "torch"], "cuda:0", native_bf16=None)
    assert [c.backend for c in chosen] == ["tensorrt", "onnxruntime", "torch"]


@pytest.mark.parametrize(("options", "message"), [
    (BenchOptions(preset="huge"), "unknown preset 'huge'; valid presets: tiny, full"),
    (BenchOptions(backends=["openvino:int4"]), "unknown precision 'int4'"),
    (BenchOptions(backends=["tflite"]), "unknown backend 'tflite'"),
    (BenchOptions(repeat=0), "--repeat must be at least 1"),
    (BenchOptions(scan=False, patch_engines=False), "nothing to measure"),
])
def test_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        options.checked()


def test_configuration_specs():
    assert parse_configuration("OpenVINO:BF16") == FastConfiguration("openvino", "bf16")
    assert parse_configuration("torch") == FastConfiguration("torch", None)
    assert FastConfiguration("torch").label == "spine-rt fast (torch)"
    assert parse_engines(["openvino", "openvino:bf16", "openvino:fp32"]) == ("openvino:fp32", "openvino:bf16")
    with pytest.raises(InputError, match="valid engines"):
        parse_engines(["onnxruntime:bf16"])
