"""sliding_window_inference end to end with predictors of known output (numpy)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.patching import ArgmaxWriter, ArrayWriter, run_sliding_window, sliding_window_inference


def affine(batch):
    return 2 * batch + 1


def volume_of(shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


class Recorder:
    """A predictor that records every call's input shape and window contents."""

    def __init__(self, function=affine):
        self.function = function
        self.shapes: list[tuple[int, ...]] = []
        self.batches: list[np.ndarray] = []

    def __call__(self, batch):
        self.shapes.append(batch.shape)
        self.batches.append(batch.copy())
        return self.function(batch)


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
@pytest.mark.parametrize("overlap", [0.0, 0.5, 0.75])
@pytest.mark.parametrize(
    ("shape", "patch"),
    [
        ((2, 1, 13, 17, 11), (5, 8, 6)),  # 3-D, odd sizes
        ((1, 2, 37, 29), (16, 16)),  # 2-D, odd sizes
        ((1, 1, 4, 6, 30), (8, 8, 8)),  # 3-D, image smaller than the patch on two axes
        ((1, 3, 5, 7), (9, 9)),  # 2-D, image smaller than the patch everywhere
    ],
)
def test_affine_predictor_comes_back_exactly(shape, patch, overlap, mode):
    volume = volume_of(shape)
    result = sliding_window_inference(volume, affine, patch, overlap, 3, mode)
    assert result.shape == volume.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, 2 * volume + 1, rtol=2e-6, atol=2e-6)


def test_constant_predictor_comes_back_exactly():
    volume = volume_of((1, 1, 20, 20))
    result = sliding_window_inference(volume, lambda b: np.full((b.shape[0], 2, 20, 20), 0.3, np.float32), (20, 20))
    np.testing.assert_allclose(result, 0.3, rtol=1e-6)
    result = sliding_window_inference(volume, lambda b: np.full((b.shape[0], 2, 8, 8), 0.3, np.float32), (8, 8), 0.75)
    np.testing.assert_allclose(result, 0.3, rtol=1e-6)


def test_every_call_has_the_same_batch_shape_and_padding_repeats_a_window():
    volume = volume_of((1, 1, 20, 20))
    predictor = Recorder()
    result = run_sliding_window(volume, predictor, (8, 8), overlap=0.5, batch_size=4)
    assert result.windows_total == 16 and result.windows_run == 16
    assert result.predictor_calls == 4
    assert set(predictor.shapes) == {(4, 1, 8, 8)}
    # 3 images x 5 windows = 15 items: the last call has 3 real windows and one repeat
    volume = volume_of((3, 1, 24, 8))
    predictor = Recorder()
    result = run_sliding_window(volume, predictor, (8, 8), overlap=0.5, batch_size=4)
    assert result.windows_total == 5 and result.predictor_calls == 4
    assert set(predictor.shapes) == {(4, 1, 8, 8)}
    last = predictor.batches[-1]
    np.testing.assert_array_equal(last[3], last[2])
    np.testing.assert_allclose(result.outputs, 2 * volume + 1, rtol=2e-6, atol=2e-6)


def test_batch_of_one():
    volume = volume_of((1, 1, 9, 9))
    predictor = Recorder()
    result = run_sliding_window(volume, predictor, (4, 4), batch_size=1)
    assert set(predictor.shapes) == {(1, 1, 4, 4)} and result.predictor_calls == result.windows_total


def quarter_pool(batch):
    """Average-pool 4x4(x4): a 1/4-resolution output."""
    b, c, *spatial = batch.shape
    shape = [b, c]
    for size in spatial:
        shape += [size // 4, 4]
    return batch.reshape(shape).mean(axis=tuple(range(3, len(shape), 2)))


def test_outputs_at_full_and_quarter_resolution():
    volume = volume_of((1, 1, 16, 40, 36))
    result = run_sliding_window(
        volume, lambda b: (quarter_pool(b), affine(b)), (8, 16, 16), overlap=0.5, alignment=4, batch_size=2
    )
    features, logits = result.outputs
    assert features.shape == (1, 1, 4, 10, 9)
    np.testing.assert_allclose(logits, 2 * volume + 1, rtol=2e-6, atol=2e-6)
    # windows start on multiples of 4, so every window's pooling cells are the image's
    np.testing.assert_allclose(features, quarter_pool(volume), rtol=1e-5, atol=1e-6)


def test_dict_outputs_keep_their_keys():
    volume = volume_of((1, 2, 24, 24))
    result = sliding_window_inference(
        volume, lambda b: {"features": quarter_pool(b), "logits": affine(b)}, (8, 8), alignment=4
    )
    assert set(result) == {"features", "logits"}
    np.testing.assert_allclose(result["logits"], 2 * volume + 1, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(result["features"], quarter_pool(volume), rtol=1e-5, atol=1e-6)


def test_misaligned_quarter_output_is_refused():
    volume = volume_of((1, 1, 44, 44))
    with pytest.raises(InputError, match="alignment=4"):
        sliding_window_inference(volume, quarter_pool, (16, 16), overlap=0.5)


def test_irrational_looking_scale_is_refused():
    volume = volume_of((1, 1, 30, 30))
    with pytest.raises(InputError, match="whole number"):
        sliding_window_inference(volume, lambda b: np.zeros((b.shape[0], 1, 7, 7), np.float32), (16, 16))


def test_roi_skips_windows_that_do_not_touch_it_and_fills():
    volume = volume_of((1, 1, 32, 32))
    roi = np.zeros((32, 32), bool)
    roi[2:5, 3:6] = True
    predictor = Recorder()
    result = run_sliding_window(volume, predictor, (8, 8), overlap=0.5, batch_size=2, roi=roi, fill=-9.0)
    assert result.windows_total == 49
    grid = result.grid
    touching = [
        i for i in range(len(grid)) if roi[tuple(slice(max(s.start, 0), s.stop) for s in grid.window_slices(i))].any()
    ]
    assert result.windows_run == len(touching) < result.windows_total
    assert result.windows_skipped == 49 - len(touching)
    # windows outside the ROI were never sent to the predictor
    seen = np.concatenate(predictor.batches)
    for batch_window in seen:
        assert any(
            np.array_equal(batch_window[0], volume[0, 0][grid.window_slices(i)]) for i in touching
        ), "a window outside the ROI was run"
    output = result.outputs
    covered = np.zeros((32, 32), bool)
    for i in touching:
        covered[grid.window_slices(i)] = True
    np.testing.assert_allclose(output[0, 0][covered], (2 * volume + 1)[0, 0][covered], rtol=2e-6, atol=2e-6)
    assert np.all(output[0, 0][~covered] == -9.0)


def test_roi_fill_per_channel_like_background_one_hot():
    volume = volume_of((1, 1, 24, 24))
    roi = np.zeros((24, 24), bool)
    roi[20:, 20:] = True
    probabilities = lambda b: np.concatenate([1 - np.abs(b) / 4, np.abs(b) / 4, np.zeros_like(b)], axis=1)  # noqa: E731
    result = sliding_window_inference(volume, probabilities, (8, 8), roi=roi, fill=[1.0, 0.0, 0.0])
    assert np.all(result[0, :, 0, 0] == [1.0, 0.0, 0.0])
    np.testing.assert_allclose(result[0, 1, 23, 23], np.abs(volume[0, 0, 23, 23]) / 4, rtol=1e-6)


def test_roi_per_output_fill_for_tuple_outputs():
    volume = volume_of((1, 1, 24, 24))
    roi = np.zeros((24, 24), bool)
    roi[0, 0] = True
    features, logits = sliding_window_inference(
        volume, lambda b: (quarter_pool(b), affine(b)), (8, 8), alignment=4, roi=roi, fill=(5.0, [-1.0])
    )
    assert features[0, 0, -1, -1] == 5.0 and logits[0, 0, -1, -1] == -1.0


def test_empty_roi_runs_no_window_and_fills_everything():
    volume = volume_of((1, 1, 16, 16))
    result = run_sliding_window(volume, affine, (8, 8), roi=np.zeros((16, 16), bool), fill=3.0)
    assert result.windows_run == 0 and result.predictor_calls == 1  # one probe call learns the output shapes
    assert np.all(result.outputs == 3.0)


def test_slab_mode_equals_full_mode_and_consumers_get_rows():
    volume = volume_of((2, 1, 30, 12, 10))
    logits = lambda b: np.concatenate([b, -b, 0.5 * b], axis=1)  # noqa: E731
    full = run_sliding_window(volume, logits, (6, 8, 8), overlap=0.5)
    slab = run_sliding_window(volume, logits, (6, 8, 8), overlap=0.5, slab=True)
    np.testing.assert_array_equal(slab.outputs, full.outputs)
    assert slab.accumulator_bytes == 2 * 3 * 6 * 12 * 10 * 4 < full.accumulator_bytes
    labels = np.full((2, 30, 12, 10), 255, np.uint8)
    probabilities = np.zeros((2, 3, 30, 12, 10), np.float16)
    result = run_sliding_window(
        volume,
        lambda b: (logits(b), logits(b)),
        (6, 8, 8),
        slab=True,
        consumers=(ArgmaxWriter(labels), ArrayWriter(probabilities)),
    )
    assert result.outputs == (None, None)
    np.testing.assert_array_equal(labels, full.outputs.argmax(1))
    np.testing.assert_allclose(probabilities, full.outputs, rtol=1e-3, atol=1e-3)


def test_consumer_without_slab_gets_the_whole_volume_once():
    volume = volume_of((1, 1, 12, 12))
    calls = []
    output = sliding_window_inference(
        volume, affine, (8, 8), consumers=lambda rows, block: calls.append((rows, block.shape))
    )
    assert output is None and calls == [(slice(0, 12), (1, 1, 12, 12))]


def test_float16_accumulation_returns_float16():
    volume = volume_of((1, 1, 20, 20))
    result = sliding_window_inference(volume, affine, (8, 8), accumulate_dtype="float16")
    assert result.dtype == np.float16
    np.testing.assert_allclose(result, 2 * volume + 1, rtol=2e-3, atol=2e-3)


def test_explicit_stride():
    volume = volume_of((1, 1, 3, 100, 100))
    predictor = Recorder()
    result = run_sliding_window(volume, predictor, (1, 96, 96), stride=(1, 81, 81))
    assert result.grid.axis_starts == ((0, 1, 2), (0, 4), (0, 4))
    np.testing.assert_allclose(result.outputs, 2 * volume + 1, rtol=2e-6, atol=2e-6)


def test_predictor_may_return_integers_and_half_precision():
    volume = volume_of((1, 1, 12, 12))
    result = sliding_window_inference(volume, lambda b: (b > 0).astype(np.float16), (8, 8), mode="constant")
    np.testing.assert_allclose(result[volume > 0.0], 1.0, rtol=1e-3)


# --- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": np.zeros((12, 12), np.float32)}, r"inputs must be \(N, C, \*spatial\)"),
        ({"inputs": np.zeros((1, 12, 12), np.float32), "patch_size": (8, 8)}, r"2 spatial axes"),
        ({"inputs": [[1.0]]}, "numpy array or a torch tensor"),
        ({"overlap": 1.0}, r"overlap must be a number in \[0, 1\)"),
        ({"overlap": -0.5}, r"overlap must be a number in \[0, 1\)"),
        ({"mode": "tent"}, "valid modes: 'gaussian', 'constant'"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"patch_size": (0, 8)}, "patch_size must be positive"),
        ({"patch_size": (8, 8, 8)}, r"3 spatial axes"),
        ({"stride": 20}, "stride must be an integer between 1 and the patch size"),
        ({"accumulate_dtype": "float64"}, "accumulate_dtype must be one of float32, float16"),
        ({"roi": np.ones((5, 5), bool)}, "roi must be a boolean mask of the spatial shape"),
        ({"roi": np.ones((16, 16), np.float32)}, "roi must be a boolean mask"),
        ({"fill": [1.0, 2.0], "roi": np.ones((16, 16), bool)}, "fill for the predictor output has 2 values"),
        ({"predictor": lambda b: b[:, 0]}, r"has shape \(4, 8, 8\); expected \(4, C, 2 spatial axes\)"),
        ({"predictor": lambda b: b[:2]}, r"expected \(4, C"),
        ({"predictor": lambda b: 3.0}, "not an array"),
        ({"predictor": lambda b: ()}, "empty structure"),
    ],
)
def test_invalid_input_raises_input_error(kwargs, message):
    arguments = {"inputs": volume_of((1, 1, 16, 16)), "predictor": affine, "patch_size": (8, 8), **kwargs}
    with pytest.raises(InputError, match=message):
        sliding_window_inference(**arguments)


def test_predictor_changing_shape_is_reported():
    calls = []

    def unstable(batch):
        calls.append(1)
        return affine(batch) if len(calls) == 1 else affine(batch)[:, :, :4]

    with pytest.raises(InputError, match="changed shape on call 2"):
        sliding_window_inference(volume_of((1, 1, 16, 16)), unstable, (8, 8), batch_size=1)


def test_import_and_numpy_run_do_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "import spine_rt.patching as p\n"
        "assert 'torch' not in sys.modules\n"
        "p.sliding_window_inference(np.zeros((1, 1, 8, 8), np.float32), lambda b: b + 1, (4, 4))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
