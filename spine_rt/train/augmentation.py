"""Random augmentation of training samples: stage-one slices, stage-two patches, CutMix masks.

**Stage-one slices.** Random augmentation of stage-one samples (MONAI dictionary transforms).

For a sample ``image (3, X, Y)`` (slices ``z-1, z, z+1``) and its labels ``(X, Y)``:

* left-right mirror, p = 0.5: the neighbour slices swap (``z+1, z, z-1``);
* anterior-posterior flip (axis ``Y``), p = 0.5 (``RandFlipd``; the
  pipeline's test-time mirroring uses the same axis);
* affine, p = 0.5: rotation up to 10 degrees in-plane, scaling by up to
  10 %, translation up to 5 % of the crop (``RandAffined``; bilinear for the
  image, nearest for the labels, zero padding = background);
* intensity, image only: scaling by up to 10 % (p = 0.5,
  ``RandScaleIntensityd``) and Gaussian noise of standard deviation 0.05
  (p = 0.2, ``RandGaussianNoised``; the images are z-scored).

No superior-inferior flip: label ids name vertebral levels counted along
that axis. Reseeded with :meth:`SliceAugmentation.set_seed` every epoch.

``spine=True`` (``spine-rt train stage1 --spine-augmentation``) adds what a
handful of real scans of one site lack, so that the levels are counted from
the anatomy rather than from where they sit in the crop:

* position along the spine: a shift along S-I of up to 25 % of the crop,
  p = 0.5 (``RandAffined``, on top of the affine above);
* field of view: p = 0.3, the crop is cut at a random row above and/or below
  (up to 25 % of its length each; image and labels become background
  there), as scans that stop higher or lower on the spine;
* contrast: gamma 0.7-1.5 (p = 0.3, ``RandAdjustContrastd`` keeping the
  mean and standard deviation) and a smooth multiplicative bias field
  (p = 0.3, ``RandBiasFieldd``, coefficients up to 0.3; background stays 0).

**Stage-two patches.** Random augmentation of stage-two patches, applied alike to all inputs of a
patch.

A stage-two patch has inputs at two resolutions (the MR + stage-one
probabilities ``(1 + C, X, Y, Z)`` at full resolution, the stage-one features
``(F, X/4, Y/4, Z)``), so MONAI's dictionary transforms (one spatial size
for all keys) do not fit the spatial part; it is done here with flips that
commute with the 4x coarser feature grid:

* anterior-posterior flip (axis ``Y``), p = 0.5;
* left-right mirror (reversed slice order, axis ``Z``), p = 0.5;
* MR channel only: intensity scaling by up to 10 % (p = 0.5) and Gaussian
  noise of standard deviation 0.05 (p = 0.2), MONAI's ``RandScaleIntensity``
  and ``RandGaussianNoise`` rules, drawn from the recipe's generator;
* with ``contrast=True`` (``spine-rt train stage2 --spine-augmentation``),
  before those: the stage-one spine augmentation's gamma and bias field on
  the MR channel (see :func:`augment_patch`).

**CutMix masks.** CutMix box masks for cross pseudo supervision (SEEDS: 3 boxes covering 25-50 % of
the area).

A mask is drawn per unlabelled pair: a target share ``a ~ U(0.25, 0.5)`` of
the picture is split into 3 boxes of ``a/3`` of the area each, with a
random aspect ratio, placed at random without overlapping, so the union
covers ``a`` up to the rounding of box sides to whole pixels. Draws whose
rounded union falls outside the range are redrawn. Where the mask is true
the mixed image takes the second image, elsewhere the first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import InputError


# -- stage-one slices --------------------------------------------------------------------------------

ROTATION_DEGREES = 10.0
SCALE_RANGE = 0.1
TRANSLATION_SHARE = 0.05
INTENSITY_SCALE = 0.1
NOISE_STD = 0.05
#: spine augmentation: shift along S-I, share of the crop cut at either end, gamma range, bias-field strength
SPINE_SHIFT_SHARE = 0.25
FIELD_OF_VIEW_CUT_SHARE = 0.25
FIELD_OF_VIEW_PROBABILITY = 0.3
GAMMA_RANGE = (0.7, 1.5)
BIAS_FIELD_COEFFICIENTS = (0.0, 0.3)
#: chance of each contrast change (gamma, bias field), stage one and stage two alike
CONTRAST_PROBABILITY = 0.3


class SliceAugmentation:
    """Callable ``(image (3, X, Y), labels (X, Y) or None) -> (image, labels)``, numpy in and out."""

    def __init__(self, crop_size: tuple[int, int], seed: int = 0, spine: bool = False) -> None:
        transforms = require("monai.transforms", "augmenting training samples")
        keys = ("image", "label")
        self._rng = np.random.default_rng(seed)
        self.spine = spine
        self.crop_size = tuple(crop_size)
        spine_transforms = [
            transforms.RandAffined(
                keys, prob=0.5, translate_range=(SPINE_SHIFT_SHARE * crop_size[0], 0.0),
                mode=("bilinear", "nearest"), padding_mode="zeros", allow_missing_keys=True,
            ),
        ] if spine else []
        # contrast before any spatial change and before the noise, so the background can be kept at 0
        self._contrast = transforms.Compose([
            transforms.RandAdjustContrastd("image", prob=CONTRAST_PROBABILITY, gamma=GAMMA_RANGE, retain_stats=True),
            transforms.RandBiasFieldd("image", prob=CONTRAST_PROBABILITY, coeff_range=BIAS_FIELD_COEFFICIENTS),
        ]) if spine else None
        self._transform = transforms.Compose([*spine_transforms,
            transforms.RandFlipd(keys, prob=0.5, spatial_axis=1, allow_missing_keys=True),
            transforms.RandAffined(
                keys, prob=0.5, rotate_range=(math.radians(ROTATION_DEGREES),),
                scale_range=(SCALE_RANGE, SCALE_RANGE),
                translate_range=(TRANSLATION_SHARE * crop_size[0], TRANSLATION_SHARE * crop_size[1]),
                mode=("bilinear", "nearest"), padding_mode="zeros", allow_missing_keys=True,
            ),
            transforms.RandScaleIntensityd("image", factors=INTENSITY_SCALE, prob=0.5),
            transforms.RandGaussianNoised("image", prob=0.2, mean=0.0, std=NOISE_STD),
        ])
        self.set_seed(seed)

    def set_seed(self, seed: int) -> None:
        """Reseed every random choice (mirror, MONAI transforms)."""
        self._rng = np.random.default_rng(seed)
        self._transform.set_random_state(seed=int(seed) % (2**32))
        if self._contrast is not None:
            self._contrast.set_random_state(seed=(int(seed) + 1) % (2**32))

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        if self._rng.random() < 0.5:
            image = image[::-1]
        if self.spine and self._rng.random() < FIELD_OF_VIEW_PROBABILITY:
            image, labels = self._cut_field_of_view(image, labels)
        if self._contrast is not None:
            background = ~np.any(image != 0, axis=0)
            changed = self._contrast({"image": np.ascontiguousarray(image, dtype=np.float32)})["image"]
            image = (changed.numpy() if hasattr(changed, "numpy") else np.asarray(changed)).astype(np.float32)
            image[:, background] = 0.0
        sample = {"image": np.ascontiguousarray(image, dtype=np.float32)}
        if labels is not None:
            sample["label"] = labels[None].astype(np.float32)
        out = self._transform(sample)
        image_out = np.asarray(out["image"], dtype=np.float32)
        labels_out = None if labels is None else np.rint(np.asarray(out["label"])[0]).astype(np.int64)
        return image_out, labels_out

    def _cut_field_of_view(self, image: np.ndarray, labels: np.ndarray | None):
        """Background above a random row and/or below another (each end cut with p = 0.5, up to 25 %)."""
        rows = image.shape[1]
        limit = int(FIELD_OF_VIEW_CUT_SHARE * rows)
        top = int(self._rng.integers(0, limit + 1)) if self._rng.random() < 0.5 else 0
        bottom = int(self._rng.integers(0, limit + 1)) if self._rng.random() < 0.5 else 0
        image = np.array(image, dtype=np.float32)
        labels = None if labels is None else np.array(labels)
        for array in (image[:, :top], image[:, rows - bottom:]):
            array[...] = 0.0
        if labels is not None:
            labels[:top] = 0
            labels[rows - bottom:] = 0
        return image, labels


# -- stage-two patches -------------------------------------------------------------------------------

# the intensity rules are the stage-one ones above (INTENSITY_SCALE, NOISE_STD)


def augment_patch(
    image: np.ndarray, features: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
    contrast: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment one patch: ``image (1 + C, X, Y, Z)``, ``features (F, X/4, Y/4, Z)``, ``labels (X, Y, Z)``.

    ``contrast=True`` (``spine-rt train stage2 --spine-augmentation``) first changes the MR channel's
    contrast as stage one's spine augmentation does: gamma in :data:`GAMMA_RANGE` keeping the patch's
    mean and standard deviation (p = :data:`CONTRAST_PROBABILITY`, MONAI ``AdjustContrast``) and a smooth
    multiplicative bias field (p = :data:`CONTRAST_PROBABILITY`, MONAI ``RandBiasField``, coefficients
    :data:`BIAS_FIELD_COEFFICIENTS`); the
    background (MR exactly 0) stays 0. The stage-one channels are not changed.

    Returns new arrays (the inputs are not modified).
    """
    if rng.random() < 0.5:
        image, features, labels = image[:, :, ::-1], features[:, :, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        image, features, labels = image[..., ::-1], features[..., ::-1], labels[..., ::-1]
    image = np.array(image, dtype=np.float32)
    if contrast:
        image[0] = _patch_contrast(image[0], rng)
    if rng.random() < 0.5:
        image[0] *= 1.0 + rng.uniform(-INTENSITY_SCALE, INTENSITY_SCALE)
    if rng.random() < 0.2:
        image[0] += rng.normal(0.0, NOISE_STD, size=image[0].shape).astype(np.float32)
    return image, np.ascontiguousarray(features), np.ascontiguousarray(labels)


def _patch_contrast(mr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma and bias field of one ``(X, Y, Z)`` MR patch (see :func:`augment_patch`), drawn from ``rng``."""
    do_gamma, do_bias = rng.random() < CONTRAST_PROBABILITY, rng.random() < CONTRAST_PROBABILITY
    if not (do_gamma or do_bias):
        return mr
    transforms = require("monai.transforms", "augmenting training samples")
    background = mr == 0
    channel = mr[None]
    if do_gamma:
        gamma = float(rng.uniform(*GAMMA_RANGE))
        channel = transforms.AdjustContrast(gamma, retain_stats=True)(channel)
    if do_bias:
        bias = transforms.RandBiasField(coeff_range=BIAS_FIELD_COEFFICIENTS, prob=1.0)
        bias.set_random_state(seed=int(rng.integers(2**31)))
        channel = bias(channel)
    out = np.asarray(channel.numpy() if hasattr(channel, "numpy") else channel, dtype=np.float32)[0]
    out[background] = 0.0
    return out


# -- CutMix masks ------------------------------------------------------------------------------------

CUTMIX_BOXES = 3
CUTMIX_AREA = (0.25, 0.5)
#: box sides are drawn with height/width ratios in this range (then clipped to the picture)
ASPECT_RATIO_RANGE = (0.5, 2.0)
_MAX_DRAWS = 1000


def cutmix_box_mask(
    shape: Sequence[int],
    rng: np.random.Generator,
    boxes: int = CUTMIX_BOXES,
    area: Sequence[float] = CUTMIX_AREA,
) -> np.ndarray:
    """One ``(X, Y)`` bool mask of ``boxes`` disjoint boxes whose union covers a share in ``area``.

    Args:
        shape: the picture size ``(X, Y)`` in pixels.
        rng: the random generator (seeded by the recipe).
        boxes: number of boxes.
        area: ``(low, high)`` share of the picture the union covers.

    Raises:
        InputError: a picture too small to hold such boxes (after many draws).
    """
    size_x, size_y = (int(n) for n in shape)
    low, high = (float(v) for v in area)
    total = size_x * size_y
    for _ in range(_MAX_DRAWS):
        share = rng.uniform(low, high)
        mask = np.zeros((size_x, size_y), bool)
        placed = 0
        for _box in range(boxes):
            box_area = share * total / boxes
            ratio = math.exp(rng.uniform(math.log(ASPECT_RATIO_RANGE[0]), math.log(ASPECT_RATIO_RANGE[1])))
            side_x = min(size_x, max(1, round(math.sqrt(box_area * ratio))))
            side_y = min(size_y, max(1, round(box_area / side_x)))
            for _attempt in range(20):
                x = int(rng.integers(0, size_x - side_x + 1))
                y = int(rng.integers(0, size_y - side_y + 1))
                if not mask[x:x + side_x, y:y + side_y].any():
                    mask[x:x + side_x, y:y + side_y] = True
                    placed += 1
                    break
        covered = mask.sum() / total
        if placed == boxes and low <= covered <= high:
            return mask
    raise InputError(f"cannot place {boxes} CutMix boxes covering {low:.0%}-{high:.0%} of a {size_x} x {size_y} picture")


def cutmix_masks(count: int, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """``(count, X, Y)`` bool masks, one per unlabelled pair."""
    return np.stack([cutmix_box_mask(shape, rng) for _ in range(count)])
