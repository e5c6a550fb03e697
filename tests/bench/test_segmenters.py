"""The MONAI baseline: labels on the input's grid, and stage two fed exactly what spine-rt feeds it."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.plan import shaped_input

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def baseline(small_package):
    pytest.importorskip("monai")
    import torch

    torch.set_num_threads(1)  # tiny networks: thread start-up costs more than it gains
    from spine_rt.bench.segmenters import MonaiBaseline

    segmenter = MonaiBaseline.from_package(small_package, device="cpu")
    yield segmenter
    segmenter.close()


def test_labels_have_the_input_shape(baseline):
    scan = shaped_input((12, 64, 128), seed=2)
    result = baseline.segment(scan.image, scan.affine)
    assert result.labels.shape == scan.shape
    assert result.labels.dtype == np.uint8
    assert result.labels.max() < 20
    assert result.stage_two_patches_run == result.stage_two_patches_total > 0
    assert set(result.seconds) == {"preprocessing", "stage_one", "stage_two_inputs", "stage_two", "postprocessing"}
    assert baseline.describe()["sw_batch_size"] == 4


def test_predictor_split_gives_spine_rt_feed(baseline):
    """Window channels split inside the predictor = the inputs spine-rt assembles for the same patch."""
    from spine_rt.io import Image
    from spine_rt.pipelines.schedules.sampling import downsample_in_plane
    from spine_rt.pipelines.schedules.stage_one import run_stage_one
    from spine_rt.pipelines.schedules.stage_two import _feed

    scan = shaped_input((12, 96, 128), seed=3)
    prepared = baseline.preprocessing.prepare(Image(scan.image, scan.affine), baseline.size_multiple, baseline.patch)
    volume = prepared.volume
    maps = run_stage_one(downsample_in_plane(volume, 2), baseline.stage_one, 8, 2).maps[0]
    stacked = baseline.stacked_input(volume, maps).numpy()
    patch = baseline.patch
    for start in (np.array([0, 0, 0]), np.array([volume.shape[0] - patch[0], volume.shape[1] - patch[1], 0])):
        window = stacked[0][(slice(None), *(slice(s, s + p) for s, p in zip(start, patch)))]
        expected = _feed(volume, maps, [start], patch, "image", "stage_one_features")
        classes = maps.classes
        np.testing.assert_allclose(window[: 1 + classes], expected["image"][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(window[1 + classes:, ::4, ::4, :], expected["stage_one_features"][0], rtol=1e-6,
                                   atol=1e-6)


def test_memory_estimate_counts_monais_input_tensor_and_a_call_beyond_memory_is_refused(baseline, small_package,
                                                                                      monkeypatch):
    """The estimate is MONAI's (1 + C + F)-channel float32 tensor over the network volume times the measured
    factor (the tiny package adds no working memory); a call that needs more than is available refuses to start
    with both figures, before the tensor is built."""
    from spine_rt.bench import segmenters
    from spine_rt.errors import InputError
    from spine_rt.io import Image
    from spine_rt.model_package import ModelPackage
    from spine_rt.pipelines.schedules import batch_memory

    scan = shaped_input((12, 64, 128), seed=2)
    volume = baseline.preprocessing.prepare(Image(scan.image, scan.affine), baseline.size_multiple,
                                            baseline.patch).volume
    features = ModelPackage.open(small_package).manifest.stages["stage2"].inputs[1].shape[1]
    channels = baseline.input_channels
    assert channels == 1 + 20 + features
    assert baseline.working_bytes == 0
    need = baseline.memory_needed(scan.image, scan.affine)
    assert need == int(volume.size * channels * 4 * segmenters.MONAI_INPUT_PEAK_FACTOR)

    monkeypatch.setattr(batch_memory, "available_memory_bytes", lambda: need - 1)
    with pytest.raises(InputError, match=r"needs about .* GiB, .* GiB is available"):
        baseline.segment(scan.image, scan.affine)
    monkeypatch.setattr(batch_memory, "available_memory_bytes", lambda: need)
    assert baseline.segment(scan.image, scan.affine).labels.shape == scan.shape
