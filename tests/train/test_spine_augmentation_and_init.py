"""The real-data recipe's additions: spine augmentation (position, field of view, contrast) and --init
(pretraining, then fine-tuning from those weights)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def _sample():
    image = np.zeros((3, 48, 32), np.float32)
    labels = np.zeros((48, 32), np.int64)
    for level in range(1, 6):
        labels[4 + 8 * (level - 1): 10 + 8 * (level - 1), 8:24] = level
    image[:, 2:46, 4:28] = 1.0
    image[:, labels > 0] = 3.0
    return image, labels


def test_spine_augmentation_keeps_shapes_labels_and_background():
    pytest.importorskip("monai")
    from spine_rt.train.augmentation import SliceAugmentation

    augmentation = SliceAugmentation((48, 32), seed=1, spine=True)
    image, labels = _sample()
    changed_rows = 0
    for _ in range(40):
        out_image, out_labels = augmentation(image, labels)
        assert out_image.shape == image.shape and out_labels.shape == labels.shape
        assert set(np.unique(out_labels)) <= set(range(6))
        changed_rows += not np.array_equal(np.flatnonzero(out_labels.any(axis=1)), np.flatnonzero(labels.any(axis=1)))
    assert changed_rows > 5  # levels moved along the spine or cut off by the field of view


def test_field_of_view_cut_blanks_image_and_labels_alike():
    pytest.importorskip("monai")
    from spine_rt.train.augmentation import SliceAugmentation

    augmentation = SliceAugmentation((48, 32), seed=0, spine=True)
    image, labels = _sample()
    cuts = [augmentation._cut_field_of_view(image, labels) for _ in range(20)]
    for cut_image, cut_labels in cuts:
        blank = ~cut_image.any(axis=(0, 2))
        assert not cut_labels[blank].any()
        assert blank.sum() <= 2 + 2 * int(0.25 * 48)  # the 2 empty rows of the sample + at most 25 % each end
    assert any((~c[0].any(axis=(0, 2))).sum() > 2 for c in cuts)
    assert np.array_equal(image, _sample()[0])  # the input is not modified


def test_without_spine_augmentation_the_draws_are_unchanged():
    """The default recipe's augmentation (and so its documented results) is the same as before."""
    pytest.importorskip("monai")
    from spine_rt.train.augmentation import SliceAugmentation

    image, labels = _sample()
    first = SliceAugmentation((48, 32), seed=3)(image, labels)
    second = SliceAugmentation((48, 32), seed=3, spine=False)(image, labels)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_stage_two_contrast_changes_only_the_mr_channel_inside_the_body():
    pytest.importorskip("monai")
    from spine_rt.train.augmentation import augment_patch

    rng_data = np.random.default_rng(0)
    image = np.zeros((3, 32, 32, 4), np.float32)
    body = np.zeros((32, 32, 4), bool)
    body[4:28, 4:28] = True  # the same after either flip
    image[0][body] = rng_data.normal(1.0, 0.5, int(body.sum())).astype(np.float32)
    image[1:] = rng_data.random((2, 32, 32, 4)).astype(np.float32)
    features = rng_data.random((2, 8, 8, 4)).astype(np.float32)
    labels = np.zeros((32, 32, 4), np.int64)
    labels[8:20, 8:20] = 1
    changed = 0
    for seed in range(30):
        plain = augment_patch(image, features, labels, np.random.default_rng(seed))
        varied = augment_patch(image, features, labels, np.random.default_rng(seed), contrast=True)
        again = augment_patch(image, features, labels, np.random.default_rng(seed), contrast=True)
        for a, b in zip(varied, again):
            np.testing.assert_array_equal(a, b)  # reproducible from the recipe's generator
        np.testing.assert_array_equal(varied[1], plain[1])  # features: the same flips, no contrast
        np.testing.assert_array_equal(varied[2], plain[2])
        np.testing.assert_array_equal(varied[0][1:], plain[0][1:])  # stage one's probabilities untouched
        mr_plain, mr_varied = plain[0][0], varied[0][0]
        assert np.all(np.abs(mr_varied[~body]) < 0.3)  # the background stays 0 (up to the noise step)
        changed += not np.allclose(mr_varied, mr_plain, atol=0.05)
    assert changed >= 8


def test_init_starts_from_another_runs_weights(phantom_data, tmp_path):
    import torch

    from spine_rt.errors import InputError
    from spine_rt.train.checkpoints import read_training_checkpoint
    from spine_rt.train.stage_one import StageOneRecipe
    from spine_rt.train.loop import TrainingOptions

    recipe = StageOneRecipe(preset="tiny", crop_size=(32, 32), batch_size=2, spine_augmentation=True)
    pretrained = recipe.train(phantom_data, tmp_path / "pre", TrainingOptions(iterations=1, progress=False))
    tuned = recipe.train(phantom_data, tmp_path / "tuned", TrainingOptions(
        iterations=1, progress=False, learning_rate=1e-12, initial_weights=pretrained.last_checkpoint, seed=5))
    before = read_training_checkpoint(pretrained.last_checkpoint)["state_dict"]
    after = read_training_checkpoint(tuned.last_checkpoint)
    name = next(k for k, v in before.items() if v.dtype == torch.float32 and v.ndim == 4)
    assert torch.allclose(before[name], after["state_dict"][name], atol=1e-6)  # lr 1e-12: still the pretrained weights
    assert after["training"]["initial_weights"] == str(pretrained.last_checkpoint)
    assert after["settings"]["spine_augmentation"] is True
    scratch = recipe.train(phantom_data, tmp_path / "scratch", TrainingOptions(
        iterations=1, progress=False, learning_rate=1e-12, seed=5))
    assert not torch.allclose(before[name], read_training_checkpoint(scratch.last_checkpoint)["state_dict"][name])
    with pytest.raises(InputError, match="stage1 checkpoint is needed|a stage1 checkpoint"):
        from spine_rt.train.stage_two import FrozenStageOne, StageTwoRecipe

        StageTwoRecipe(preset="tiny", patch_size=(32, 32, 12), batch_size=2).train(
            phantom_data, FrozenStageOne.from_checkpoint(pretrained.last_checkpoint), tmp_path / "s2",
            TrainingOptions(iterations=1, progress=False, initial_weights=pretrained.last_checkpoint))
