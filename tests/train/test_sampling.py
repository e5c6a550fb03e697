"""CutMix boxes, class-balanced patches, slice crops and label downsampling (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.train.augmentation import cutmix_box_mask, cutmix_masks
from spine_rt.train.volumes import TrainingVolume, downsample_labels_in_plane
from spine_rt.train.sampling import ClassBalancedPatchSampler, SliceSampler, crop_with_padding, slice_triplet


@pytest.mark.parametrize("shape", [(64, 64), (112, 112), (512, 256), (48, 32)])
def test_cutmix_area_within_25_to_50_percent(shape):
    rng = np.random.default_rng(0)
    shares = [cutmix_box_mask(shape, rng).mean() for _ in range(200)]
    assert min(shares) >= 0.25 and max(shares) <= 0.5
    assert max(shares) - min(shares) > 0.1  # the share is drawn, not fixed


def test_cutmix_is_seeded_and_batched():
    first = cutmix_masks(4, (64, 96), np.random.default_rng(3))
    second = cutmix_masks(4, (64, 96), np.random.default_rng(3))
    assert first.shape == (4, 64, 96) and first.dtype == bool
    assert np.array_equal(first, second)
    with pytest.raises(InputError):
        cutmix_box_mask((1, 1), np.random.default_rng(0))


def test_class_balanced_sampler_picks_each_present_class_equally():
    labels = np.zeros((64, 64, 12), np.uint8)
    labels[10:40, 10:40, :] = 1      # large
    labels[50:54, 50:54, 2:4] = 2    # tiny
    labels[5:8, 45:60, 6] = 3        # thin
    sampler = ClassBalancedPatchSampler([labels], (16, 16, 4), alignment=(8, 8, 1))
    assert sampler.classes_present(0) == [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    counts = np.zeros(4, int)
    for draw in sampler.draws(4000, rng):
        counts[draw.class_id] += 1
        x, y, z = draw.start
        window = labels[x:x + 16, y:y + 16, z:z + 4]
        assert window.shape == (16, 16, 4)
        assert (window == draw.class_id).any()  # the chosen class lies in the patch
    assert counts.min() >= 900 and counts.max() <= 1100, counts


def test_patch_sampler_rejects_small_scans():
    with pytest.raises(InputError):
        ClassBalancedPatchSampler([np.zeros((8, 8, 2), np.uint8)], (16, 16, 4))


def test_slice_triplet_and_padded_crop():
    volume = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    triplet = slice_triplet(volume, 0)
    assert np.array_equal(triplet[0], volume[:, :, 0]) and np.array_equal(triplet[2], volume[:, :, 1])
    crop = crop_with_padding(volume[:, :, 0], (-2, 1), (4, 4))
    assert crop.shape == (4, 4) and (crop[:2] == 0).all() and crop[2, 0] == volume[0, 1, 0]


def test_slice_sampler_shapes_and_foreground_share():
    labels = np.zeros((40, 24, 5), np.uint8)
    labels[18:22, 10:14, 2] = 4
    volume = TrainingVolume("v", np.ones((40, 24, 5), np.float32), labels)
    sampler = SliceSampler([volume], (32, 32), foreground_share=1.0)
    images, targets = sampler.draw(6, np.random.default_rng(0))
    assert images.shape == (6, 3, 32, 32) and targets.shape == (6, 32, 32) and targets.dtype == np.int64
    assert all((t == 4).any() for t in targets)  # every crop centred on the labelled voxels
    unlabelled, none = sampler.draw(2, np.random.default_rng(0), labelled=False)
    assert unlabelled.shape == (2, 3, 32, 32) and none is None
    with pytest.raises(InputError):
        SliceSampler([volume], (30, 32))


def test_label_downsampling_takes_the_block_majority():
    labels = np.zeros((4, 4, 1), np.uint8)
    labels[0:2, 0:2, 0] = [[1, 1], [1, 2]]
    labels[2:4, 2:4, 0] = [[3, 2], [2, 3]]  # tie 2 vs 3: the smaller id
    half = downsample_labels_in_plane(labels, 2)
    assert half.shape == (2, 2, 1)
    assert half[0, 0, 0] == 1 and half[1, 1, 0] == 2 and half[0, 1, 0] == 0
