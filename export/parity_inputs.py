"""Deterministic, real-looking inputs for the parity checks of export and verify.

Zeros or white noise hide errors (a network's response to them is flat or
dominated by the first layer); these inputs have the structure of real ones:

* MR (stage one and two): a smooth random field (Gaussian-filtered noise,
  correlation length ~1/12 of the patch in-plane, ~1 slice across) inside an
  elliptical body outline with a brighter column (the spine), zero outside,
  then the MR preprocessing of the manifest (clip to the 0.5-99.5 percentiles
  of the non-zero voxels and z-score them; background stays 0).
* stage-two extra channels: a smooth softmax over the classes (sums to 1 per
  voxel, like the mean stage-one softmax) and smooth non-negative features
  (like the stage-one decoder's ReLU output).
* X-ray: a smooth grey image in [0, 1] with a brighter vertical column,
  replicated to RGB with small per-channel differences.

Every array is float32 and depends only on the shapes and the ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from spine_rt.errors import InputError
from spine_rt.export.model_families import MR_CLIP_PERCENTILES

#: Feature channels of stage one reach stage two at 1/4 of the patch's in-plane size.
FEATURE_STRIDE = 4


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma: Sequence[float]) -> np.ndarray:
    """Gaussian-filtered white noise of ``shape`` with per-axis ``sigma`` (voxels), zero mean, unit std."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape)), sigma=tuple(sigma), mode="wrap")
    field -= field.mean()
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)


def normalize_mr(volume: np.ndarray) -> np.ndarray:
    """The MR intensity preprocessing: over non-zero voxels clip to percentiles 0.5/99.5 and z-score; zeros stay 0."""
    array = np.asarray(volume, dtype=np.float32)
    mask = array != 0
    result = np.zeros_like(array)
    if not mask.any():
        return result
    values = array[mask]
    low, high = np.percentile(values, MR_CLIP_PERCENTILES)
    clipped = np.clip(values, low, high)
    result[mask] = (clipped - clipped.mean()) / max(float(clipped.std()), 1e-6)
    return result


def mr_like_volume(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """A normalised MR-like volume ``(X, Y, Z)`` (see the module docstring)."""
    size_x, size_y, size_z = (int(s) for s in shape)
    texture = smooth_noise(rng, shape, (size_x / 12, size_y / 12, 1.0))
    x = np.linspace(-1.0, 1.0, size_x)[:, None]
    y = np.linspace(-1.0, 1.0, size_y)[None, :]
    body = (x / 0.95) ** 2 + (y / 0.8) ** 2 <= 1.0
    spine = np.exp(-((y - 0.25) / 0.12) ** 2) * np.ones_like(x)
    volume = (2.0 + 0.6 * texture + 1.5 * spine[..., None]) * body[..., None]
    return normalize_mr(np.clip(volume, 0.0, None))


def xray_like_image(rng: np.random.Generator, size: Sequence[int]) -> np.ndarray:
    """An RGB X-ray-like image ``(3, H, W)`` in [0, 1]."""
    height, width = (int(s) for s in size)
    texture = smooth_noise(rng, (height, width), (height / 16, width / 16))
    columns = np.linspace(-1.0, 1.0, width)[None, :]
    grey = 0.35 + 0.12 * texture + 0.3 * np.exp(-(columns / 0.2) ** 2)
    tint = 1.0 + 0.03 * rng.standard_normal((3, 1, 1))
    return np.clip(grey[None] * tint, 0.0, 1.0).astype(np.float32)


def central_crop_or_pad(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The central ``shape`` region of ``array`` (zero-padded where ``array`` is smaller)."""
    result = np.zeros(tuple(shape), dtype=np.float32)
    source, target = [], []
    for have, want in zip(array.shape, shape):
        if have >= want:
            start = (have - want) // 2
            source.append(slice(start, start + want))
            target.append(slice(0, want))
        else:
            start = (want - have) // 2
            source.append(slice(0, have))
            target.append(slice(start, start + have))
    result[tuple(target)] = array[tuple(source)]
    return result


def stage_one_slices(volume: np.ndarray, batch: int) -> np.ndarray:
    """``(batch, 3, X, Y)``: consecutive triples ``z-1, z, z+1`` from a ``(X, Y, batch + 2)`` volume."""
    return np.stack([np.moveaxis(volume[..., n:n + 3], -1, 0) for n in range(batch)]).astype(np.float32)


def parity_inputs(
    network: str,
    config: Mapping[str, Any],
    patch_size: Sequence[int],
    batch: int = 2,
    seed: int = 0,
    scan: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Inputs for one stage network, ``{input name: float32 array}`` with a batch of ``batch``.

    Args:
        network: ``stage1_pair``, ``stage1``, ``stage2``, ``bilunet`` or ``mbnet``.
        config: the network's configuration (``num_classes``, ``in_channels``,
            ``stage_one_feature_channels``).
        patch_size: the stage's spatial size.
        scan: optional real data replacing the synthetic image: an MR volume
            ``(X, Y, Z)`` already on the stage's grid and normalised (centre
            cropped/padded here), or an X-ray ``(3, H, W)`` in [0, 1].

    Raises:
        InputError: unknown network or a non-positive batch.
    """
    if batch < 1:
        raise InputError(f"parity batch must be >= 1, got {batch}")
    rng = np.random.default_rng(seed)
    size = tuple(int(s) for s in patch_size)
    if network in ("stage1", "stage1_pair"):
        shape = (*size, batch + 2)
        volume = mr_like_volume(rng, shape) if scan is None else central_crop_or_pad(scan, shape)
        return {"slices": stage_one_slices(volume, batch)}
    if network == "stage2":
        num_classes = int(config["num_classes"])
        features = int(config["stage_one_feature_channels"])
        size_x, size_y, size_z = size
        images, feature_maps = [], []
        for _ in range(batch):
            mr = mr_like_volume(rng, size) if scan is None else central_crop_or_pad(scan, size)
            logits = 3.0 * smooth_noise(rng, (num_classes, *size), (0.0, size_x / 16, size_y / 16, 0.5))
            probabilities = np.exp(logits - logits.max(axis=0, keepdims=True))
            probabilities /= probabilities.sum(axis=0, keepdims=True)
            images.append(np.concatenate([mr[None], probabilities.astype(np.float32)], axis=0))
            grid = (features, size_x // FEATURE_STRIDE, size_y // FEATURE_STRIDE, size_z)
            feature_maps.append(np.maximum(smooth_noise(rng, grid, (0.0, 1.5, 1.5, 0.5)) + 0.3, 0.0))
        return {"image": np.stack(images).astype(np.float32),
                "stage_one_features": np.stack(feature_maps).astype(np.float32)}
    if network in ("bilunet", "mbnet"):
        if scan is None:
            images = [xray_like_image(rng, size) for _ in range(batch)]
        else:
            images = [central_crop_or_pad(scan, (3, *size))] * batch
        return {"image": np.stack(images).astype(np.float32)}
    raise InputError(f"no parity inputs for network {network!r}")
