"""Random augmentation of stage-two patches, applied alike to all inputs of a patch.

A stage-two patch has inputs at two resolutions (the MR + stage-one
probabilities ``(1 + C, X, Y, Z)`` at full resolution, the stage-one features
``(F, X/4, Y/4, Z)``), so MONAI's dictionary transforms (one spatial size
for all keys) do not fit the spatial part; it is done here with flips that
commute with the 4x coarser feature grid:

* anterior-posterior flip (axis ``Y``), p = 0.5;
* left-right mirror (reversed slice order, axis ``Z``), p = 0.5;
* MR channel only: intensity scaling by up to 10 % (p = 0.5) and Gaussian
  noise of standard deviation 0.05 (p = 0.2), MONAI's ``RandScaleIntensity``
  and ``RandGaussianNoise`` rules, drawn from the recipe's generator.
"""

from __future__ import annotations

import numpy as np

INTENSITY_SCALE = 0.1
NOISE_STD = 0.05


def augment_patch(
    image: np.ndarray, features: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment one patch: ``image (1 + C, X, Y, Z)``, ``features (F, X/4, Y/4, Z)``, ``labels (X, Y, Z)``.

    Returns new arrays (the inputs are not modified).
    """
    if rng.random() < 0.5:
        image, features, labels = image[:, :, ::-1], features[:, :, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        image, features, labels = image[..., ::-1], features[..., ::-1], labels[..., ::-1]
    image = np.array(image, dtype=np.float32)
    if rng.random() < 0.5:
        image[0] *= 1.0 + rng.uniform(-INTENSITY_SCALE, INTENSITY_SCALE)
    if rng.random() < 0.2:
        image[0] += rng.normal(0.0, NOISE_STD, size=image[0].shape).astype(np.float32)
    return image, np.ascontiguousarray(features), np.ascontiguousarray(labels)
