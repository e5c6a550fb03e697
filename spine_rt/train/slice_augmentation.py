"""Random augmentation of stage-one samples (MONAI dictionary transforms).

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
"""

from __future__ import annotations

import math

import numpy as np

from spine_rt.dependencies import require

ROTATION_DEGREES = 10.0
SCALE_RANGE = 0.1
TRANSLATION_SHARE = 0.05
INTENSITY_SCALE = 0.1
NOISE_STD = 0.05


class SliceAugmentation:
    """Callable ``(image (3, X, Y), labels (X, Y) or None) -> (image, labels)``, numpy in and out."""

    def __init__(self, crop_size: tuple[int, int], seed: int = 0) -> None:
        transforms = require("monai.transforms", "augmenting training samples")
        keys = ("image", "label")
        self._rng = np.random.default_rng(seed)
        self._transform = transforms.Compose([
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

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        if self._rng.random() < 0.5:
            image = image[::-1]
        sample = {"image": np.ascontiguousarray(image, dtype=np.float32)}
        if labels is not None:
            sample["label"] = labels[None].astype(np.float32)
        out = self._transform(sample)
        image_out = np.asarray(out["image"], dtype=np.float32)
        labels_out = None if labels is None else np.rint(np.asarray(out["label"])[0]).astype(np.int64)
        return image_out, labels_out
