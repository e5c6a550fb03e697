"""Hand-made label volumes for the evaluation tests: five vertebral bodies L1..L5 stacked along axis 0."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

LABELS = {0: "background", 1: "L1", 2: "L2", 3: "L3", 4: "L4", 5: "L5"}
SHAPE = (60, 24, 10)
#: voxel size (mm) of the test volumes
SPACING = (1.0, 1.5, 3.0)
AFFINE = np.diag([*SPACING, 1.0])


def spine_labels() -> np.ndarray:
    """``(60, 24, 10)`` uint8: L1 at rows 5-12, L2 at 15-22, ... (8 rows each, 2-row gaps), in-plane 6..18, slices 2..8."""
    labels = np.zeros(SHAPE, np.uint8)
    for level in range(1, 6):
        top = 5 + 10 * (level - 1)
        labels[top:top + 8, 6:18, 2:8] = level
    return labels


def shifted_by_one_level(labels: np.ndarray) -> np.ndarray:
    """Every structure called one level lower (L2 called L1, ..., L1 dropped): the classic off-by-one count."""
    shifted = labels.astype(np.int64) - 1
    shifted[shifted < 0] = 0
    return shifted.astype(np.uint8)


def image_of(labels: np.ndarray) -> np.ndarray:
    """A float image with the structures brighter than their surroundings (non-zero everywhere inside the body)."""
    image = np.full(labels.shape, 100.0, np.float32)
    image[labels > 0] = 400.0
    return image


def write_case(folder: Path, name: str, array: np.ndarray, suffix: str, affine=AFFINE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{suffix}.nii.gz"
    nib.save(nib.Nifti1Image(array, affine), path)
    return path


def write_labels_json(path: Path, labels=LABELS) -> Path:
    path.write_text(json.dumps({str(k): v for k, v in labels.items()}))
    return path
