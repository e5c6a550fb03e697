"""Torch tensors in, torch tensors out, on the input's device."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.patching import ArgmaxWriter, run_sliding_window, sliding_window_inference

pytestmark = pytest.mark.torch


@pytest.fixture
def torch():
    import torch

    return torch


def test_torch_tensor_in_torch_tensor_out(torch):
    volume = torch.rand(2, 1, 13, 17, 11)
    seen = []

    def predictor(batch):
        seen.append((type(batch), tuple(batch.shape)))
        return 2 * batch + 1

    result = sliding_window_inference(volume, predictor, (5, 8, 6), overlap=0.5, batch_size=3)
    assert isinstance(result, torch.Tensor) and result.dtype == torch.float32
    assert {s for s in seen} == {(torch.Tensor, (3, 1, 5, 8, 6))}
    torch.testing.assert_close(result, 2 * volume + 1, rtol=2e-6, atol=2e-6)


def test_torch_module_with_gradients_is_detached(torch):
    volume = torch.rand(1, 1, 16, 16)
    conv = torch.nn.Conv2d(1, 3, 1)
    result = sliding_window_inference(volume, conv, (8, 8))
    assert not result.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(result, conv(volume), rtol=1e-5, atol=1e-5)


def test_torch_multi_output_slab_and_roi(torch):
    volume = torch.rand(1, 1, 16, 24, 24)
    roi = torch.zeros(16, 24, 24, dtype=torch.bool)
    roi[:4, :4, :4] = True

    def predictor(batch):
        pooled = torch.nn.functional.avg_pool3d(batch, 4)
        return {"features": pooled, "logits": torch.cat([batch, 1 - batch], 1)}

    options = {"alignment": 4, "roi": roi, "fill": {"logits": [1.0, 0.0]}}
    full = run_sliding_window(volume, predictor, (8, 8, 8), **options)
    slab = run_sliding_window(volume, predictor, (8, 8, 8), slab=True, **options)
    assert full.windows_run < full.windows_total
    for key in ("features", "logits"):
        assert isinstance(slab.outputs[key], torch.Tensor)
        torch.testing.assert_close(slab.outputs[key], full.outputs[key], rtol=0, atol=0)
    assert torch.all(full.outputs["logits"][0, :, -1, -1, -1] == torch.tensor([1.0, 0.0]))
    labels = np.zeros((1, 16, 24, 24), np.uint8)
    run_sliding_window(volume, lambda b: predictor(b)["logits"], (8, 8, 8), slab=True, consumers=ArgmaxWriter(labels))
    np.testing.assert_array_equal(labels, torch.cat([volume, 1 - volume], 1).argmax(1).numpy())


def test_torch_float16_accumulation(torch):
    volume = torch.rand(1, 2, 20, 20)
    result = sliding_window_inference(volume, lambda b: 2 * b + 1, (8, 8), accumulate_dtype=torch.float16)
    assert result.dtype == torch.float16
    torch.testing.assert_close(result.float(), 2 * volume + 1, rtol=2e-3, atol=2e-3)


def test_numpy_inputs_with_a_torch_predictor(torch):
    volume = np.random.default_rng(0).random((1, 1, 12, 12), dtype=np.float32)
    result = sliding_window_inference(volume, lambda b: torch.from_numpy(b) * 2 + 1, (8, 8))
    assert isinstance(result, np.ndarray)
    np.testing.assert_allclose(result, 2 * volume + 1, rtol=2e-6)


def test_image_smaller_than_patch_torch(torch):
    volume = torch.rand(1, 1, 5, 30)
    result = sliding_window_inference(volume, lambda b: 2 * b + 1, (8, 8))
    torch.testing.assert_close(result, 2 * volume + 1, rtol=2e-6, atol=2e-6)


@pytest.mark.gpu
def test_cuda_tensor_stays_on_the_gpu(torch):
    volume = torch.rand(1, 1, 24, 40, 40, device="cuda")
    devices = set()

    def predictor(batch):
        devices.add(batch.device.type)
        return torch.cat([2 * batch + 1, batch], 1)

    result = sliding_window_inference(volume, predictor, (8, 16, 16), slab=False)
    assert result.device == volume.device and devices == {"cuda"}
    torch.testing.assert_close(result[:, :1], 2 * volume + 1, rtol=2e-6, atol=2e-6)
    slab = sliding_window_inference(volume, predictor, (8, 16, 16), slab=True, roi=volume[0, 0] > 0.99)
    assert slab.device == volume.device
