"""Class-balanced patch sampling for stage two (SEEDS: pick a class uniformly, centre on one of its voxels).

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
