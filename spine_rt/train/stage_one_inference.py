"""Stage one over whole sagittal slices of a training scan (validation, and stage two's frozen input).

Each slice ``z`` of a scan on stage one's grid becomes a 3-channel picture
``(z-1, z, z+1)``, padded with background at the far edges to multiples of
16 (the output stride), run in batches of slices, and the outputs are
cropped back. The result is the pipeline's :class:`StageOneMaps`:
probabilities ``(C, X, Y, Z)`` (mean softmax of both branches) and features
``(2F, X/4, Y/4, Z)``, on stage one's grid. The pipeline tiles larger slices
with windows instead; for the scan sizes of training the difference is
confined to the border.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.train.mixed_precision import TrainingDevice
from spine_rt.train.slice_sampler import slice_triplet

STAGE_ONE_STRIDE = 16
FEATURE_STRIDE = 4


def _padded(volume: np.ndarray) -> np.ndarray:
    size_x, size_y, _ = volume.shape
    target_x = math.ceil(size_x / STAGE_ONE_STRIDE) * STAGE_ONE_STRIDE
    target_y = math.ceil(size_y / STAGE_ONE_STRIDE) * STAGE_ONE_STRIDE
    return np.pad(volume, [(0, target_x - size_x), (0, target_y - size_y), (0, 0)])


@torch.no_grad()
def run_stage_one_on_volume(
    pair: nn.Module,
    volume: np.ndarray,
    device: TrainingDevice,
    resolution_factor: int,
    batch_size: int = 8,
    keep_features: bool = True,
    dtype: np.dtype = np.float32,
) -> StageOneMaps:
    """Stage one's maps over ``volume`` ``(X, Y, Z)`` (stage one's grid; ``X, Y`` multiples of 4).

    Args:
        pair: a ``stage1_pair`` network (put in eval mode here; the caller restores train mode).
        volume: the normalised scan at stage one's resolution.
        device: where to run (autocast with mixed precision).
        resolution_factor: ``f`` (recorded in the maps: probabilities at stride ``f``, features ``4 f``).
        batch_size: slices per forward pass.
        keep_features: False returns an empty feature map (validation needs only probabilities).
        dtype: dtype of the returned maps (float16 halves the memory of cached maps).
    """
    pair.eval()
    size_x, size_y, size_z = volume.shape
    padded = _padded(volume)
    probabilities = np.zeros((0,), dtype)
    features = np.zeros((0,), dtype)
    first = True
    for start in range(0, size_z, batch_size):
        slices = range(start, min(start + batch_size, size_z))
        batch = torch.from_numpy(np.stack([slice_triplet(padded, z) for z in slices])).to(device.device)
        with device.autocast():
            batch_probabilities, batch_features = pair(batch)
        batch_probabilities = batch_probabilities.float()[:, :, :size_x, :size_y].cpu().numpy()
        if first:
            probabilities = np.zeros((batch_probabilities.shape[1], size_x, size_y, size_z), dtype)
            channels = batch_features.shape[1] if keep_features else 0
            features = np.zeros((channels, size_x // FEATURE_STRIDE, size_y // FEATURE_STRIDE, size_z), dtype)
            first = False
        probabilities[..., slices.start:slices.stop] = np.moveaxis(batch_probabilities, 0, -1)
        if keep_features:
            cropped = batch_features.float()[:, :, :size_x // FEATURE_STRIDE, :size_y // FEATURE_STRIDE]
            features[..., slices.start:slices.stop] = np.moveaxis(cropped.cpu().numpy(), 0, -1)
    return StageOneMaps(probabilities, features, resolution_factor, resolution_factor * FEATURE_STRIDE)
