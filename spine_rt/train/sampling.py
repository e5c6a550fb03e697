"""Where training samples come from in a scan: 3-slice crops for stage one, class-balanced patches for stage two.

**Stage-one slices.** Stage-one training samples: 3-slice crops ``(3, cx, cy)`` from scans on stage
one's grid.

A sample is slice ``z`` of a scan with its neighbours ``z-1, z, z+1`` as
channels (edge slices repeated, as the pipeline does), cropped in-plane to
``crop_size``; its target is the label map of slice ``z``. Crops reaching
beyond the scan are filled with background (image 0, label 0), as the
pipeline pads.

Where a crop lies: with probability ``foreground_share`` it is centred on a
random labelled (non-background) voxel of the scan, otherwise the slice and
the crop position are uniform. Unlabelled draws are always uniform.

**Stage-two patches.** Class-balanced patch sampling for stage two (SEEDS: pick a class uniformly,
centre on one of its voxels).

For each patch: pick a training scan uniformly, pick a class uniformly among
the classes present in that scan (background included), pick one voxel of
that class uniformly and centre the patch on it. The patch start is then
rounded down in-plane to the stage-one feature grid (multiples of ``4 f``
voxels, as the pipeline aligns its windows, so the stage-one features are
copied, not interpolated) and clamped so the patch lies inside the scan;
the chosen voxel stays inside the patch.

Voxels of rare classes are indexed once; a class covering more than a
quarter of a scan (background) is sampled by drawing random voxels until
one holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError
from spine_rt.train.volumes import TrainingVolume


# -- stage-one slices --------------------------------------------------------------------------------

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


# -- stage-two patches -------------------------------------------------------------------------------

#: classes covering more than this share of a scan are sampled by rejection, not indexed
_INDEX_SHARE = 0.25


@dataclass(frozen=True)
class PatchDraw:
    """One sampled patch: the scan, the patch start ``(x, y, z)`` and the class it was centred on."""

    volume: int
    start: tuple[int, int, int]
    class_id: int


class _ClassVoxels:
    """Where each class lies in one label map."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.flat = labels.reshape(-1)
        counts = np.bincount(self.flat, minlength=1)
        self.classes = [int(c) for c in np.flatnonzero(counts)]
        limit = _INDEX_SHARE * self.flat.size
        self.indexed = {c: np.flatnonzero(self.flat == c) for c in self.classes if counts[c] <= limit}

    def voxel(self, class_id: int, rng: np.random.Generator) -> tuple[int, int, int]:
        if class_id in self.indexed:
            flat_index = int(rng.choice(self.indexed[class_id]))
        else:
            while True:
                flat_index = int(rng.integers(0, self.flat.size))
                if self.flat[flat_index] == class_id:
                    break
        return tuple(int(i) for i in np.unravel_index(flat_index, self.labels.shape))  # type: ignore[return-value]


class ClassBalancedPatchSampler:
    """Draws patch positions from label maps, classes balanced (see the module docstring).

    Args:
        labels: one ``(X, Y, Z)`` label map per training scan, each at least ``patch_size``.
        patch_size: ``(px, py, pz)`` voxels.
        alignment: patch starts are multiples of this per axis where the scan allows
            (``(4 f, 4 f, 1)``); the last valid start is always allowed.

    Raises:
        InputError: no label map, or one smaller than the patch.
    """

    def __init__(self, labels: Sequence[np.ndarray], patch_size: Sequence[int],
                 alignment: Sequence[int] = (1, 1, 1)) -> None:
        if not labels:
            raise InputError("class-balanced sampling needs at least one labelled scan")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.alignment = tuple(int(a) for a in alignment)
        for index, label_map in enumerate(labels):
            if any(n < p for n, p in zip(label_map.shape, self.patch_size)):
                raise InputError(f"scan {index} of shape {label_map.shape} is smaller than the patch {self.patch_size}")
        self._voxels = [_ClassVoxels(np.asarray(label_map)) for label_map in labels]

    def classes_present(self, volume: int) -> list[int]:
        """The class ids present in scan ``volume``."""
        return list(self._voxels[volume].classes)

    def draw(self, rng: np.random.Generator) -> PatchDraw:
        """One patch (see the module docstring)."""
        volume = int(rng.integers(0, len(self._voxels)))
        voxels = self._voxels[volume]
        class_id = voxels.classes[int(rng.integers(0, len(voxels.classes)))]
        centre = voxels.voxel(class_id, rng)
        start = []
        for axis, (position, size, step) in enumerate(zip(centre, self.patch_size, self.alignment)):
            length = voxels.labels.shape[axis]
            first = position - size // 2
            first = (first // step) * step if step > 1 else first
            first = min(max(first, 0), length - size)
            if not first <= position < first + size:  # alignment pushed the voxel out: step back
                first = min(max(position - size + 1, 0), length - size)
            start.append(int(first))
        return PatchDraw(volume, tuple(start), class_id)  # type: ignore[arg-type]

    def draws(self, count: int, rng: np.random.Generator) -> list[PatchDraw]:
        """``count`` independent draws."""
        return [self.draw(rng) for _ in range(count)]
