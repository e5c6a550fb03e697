"""Stage-one training samples: 3-slice crops ``(3, cx, cy)`` from scans on stage one's grid.

A sample is slice ``z`` of a scan with its neighbours ``z-1, z, z+1`` as
channels (edge slices repeated, as the pipeline does), cropped in-plane to
``crop_size``; its target is the label map of slice ``z``. Crops reaching
beyond the scan are filled with background (image 0, label 0), as the
pipeline pads.

Where a crop lies: with probability ``foreground_share`` it is centred on a
random labelled (non-background) voxel of the scan, otherwise the slice and
the crop position are uniform. Unlabelled draws are always uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spine_rt.errors import InputError
from spine_rt.train.training_volume import TrainingVolume

DEFAULT_FOREGROUND_SHARE = 0.5


def crop_with_padding(array: np.ndarray, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """``array[..., x0:x0+cx, y0:y0+cy]`` of the last two axes; outside the array: 0."""
    out = np.zeros((*array.shape[:-2], *size), array.dtype)
    source, target = [], []
    for first, count, length in zip(start, size, array.shape[-2:]):
        low, high = max(first, 0), min(first + count, length)
        if high <= low:
            return out
        source.append(slice(low, high))
        target.append(slice(low - first, high - first))
    out[(Ellipsis, *target)] = array[(Ellipsis, *source)]
    return out


def slice_triplet(image: np.ndarray, z: int) -> np.ndarray:
    """``(X, Y, Z)`` -> ``(3, X, Y)``: slices ``z-1, z, z+1`` (edge slices repeated)."""
    last = image.shape[2] - 1
    return np.stack([image[:, :, max(z - 1, 0)], image[:, :, z], image[:, :, min(z + 1, last)]])


class SliceSampler:
    """Draws 3-slice crops from scans on stage one's grid (see the module docstring).

    Args:
        volumes: the scans (at stage one's resolution).
        crop_size: ``(cx, cy)`` pixels, multiples of 16 (stage one's output stride).
        foreground_share: chance that a labelled crop is centred on a labelled voxel.

    Raises:
        InputError: no scans, or a crop size that is not a positive multiple of 16.
    """

    def __init__(self, volumes: Sequence[TrainingVolume], crop_size: Sequence[int],
                 foreground_share: float = DEFAULT_FOREGROUND_SHARE) -> None:
        if not volumes:
            raise InputError("stage one needs at least one scan to sample from")
        self.crop_size = tuple(int(c) for c in crop_size)
        if len(self.crop_size) != 2 or any(c < 16 or c % 16 for c in self.crop_size):
            raise InputError(f"stage-one crop size must be two positive multiples of 16, got {tuple(crop_size)}")
        self.volumes = list(volumes)
        self.foreground_share = float(foreground_share)
        self._foreground = [
            None if v.labels is None else np.flatnonzero(v.labels.reshape(-1) > 0) for v in self.volumes
        ]

    def _position(self, index: int, rng: np.random.Generator, centred: bool) -> tuple[int, int, int]:
        """``(x0, y0, z)``: the crop's corner and slice."""
        volume = self.volumes[index]
        size_x, size_y, size_z = volume.shape
        foreground = self._foreground[index]
        if centred and foreground is not None and foreground.size:
            x, y, z = np.unravel_index(int(rng.choice(foreground)), volume.shape)
            return int(x) - self.crop_size[0] // 2, int(y) - self.crop_size[1] // 2, int(z)
        corner = []
        for length, count in zip((size_x, size_y), self.crop_size):
            low, high = min(0, length - count), max(0, length - count)
            corner.append(int(rng.integers(low, high + 1)))
        return corner[0], corner[1], int(rng.integers(0, size_z))

    def draw(self, count: int, rng: np.random.Generator, labelled: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """``count`` samples: images ``(count, 3, cx, cy)`` float32 and labels ``(count, cx, cy)`` int64
        (None when ``labelled`` is false)."""
        images, labels = [], []
        for _ in range(count):
            index = int(rng.integers(0, len(self.volumes)))
            centred = labelled and rng.random() < self.foreground_share
            x0, y0, z = self._position(index, rng, centred)
            volume = self.volumes[index]
            images.append(crop_with_padding(slice_triplet(volume.image, z), (x0, y0), self.crop_size))
            if labelled:
                if volume.labels is None:
                    raise InputError(f"scan {volume.name} has no labels")
                labels.append(crop_with_padding(volume.labels[:, :, z], (x0, y0), self.crop_size))
        image_batch = np.stack(images).astype(np.float32, copy=False)
        label_batch = np.stack(labels).astype(np.int64) if labelled else None
        return image_batch, label_batch
