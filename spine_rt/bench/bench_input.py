"""The scan a benchmark segments: a synthetic spine MR of MRSpineSeg geometry or of a given size.

Shapes are written in the phantom's array order ``(slices, S-I, A-P)``:
sagittal slices (4.4 mm apart, left -> right), superior -> inferior and
anterior -> posterior voxels (0.3448 mm), i.e. the grid stage two runs on,
so the network volume has the requested size (after padding to the
networks' multiples). ``12,512,1024`` is exactly one outer window of the
authors' schedule.

* :func:`phantom_input` - :func:`spine_rt.phantoms.spine_mr` with its
  default (MRSpineSeg) geometry: 12 slices, about 1000 x 550 voxels.
* :func:`shaped_input` - a phantom of exactly ``shape``: drawn on a grid at
  least large enough to hold the spine (T9 to S1 needs about 300 mm
  superior-inferior), then cropped around the spine. Every voxel is non-zero
  (the phantom's noise floor), so the pipeline's crop to the non-zero extent
  keeps the whole volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError

#: a phantom grid this large (slices, S-I, A-P voxels at 0.3448 mm) always holds T9..S1
_ROOMY_GRID = (1200, 640)
#: the largest input a benchmark draws (voxels)
MAX_VOXELS = 60_000_000


@dataclass(frozen=True, eq=False)
class BenchInput:
    """A scan for a benchmark.

    Attributes:
        image: float32 ``(slices, S-I, A-P)``.
        affine: 4x4 voxel -> RAS+ mm.
        description: what it is, for the report (``"phantom seed 0, ..."``).
    """

    image: np.ndarray
    affine: np.ndarray
    description: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.image.shape)  # type: ignore[return-value]

    @property
    def voxels(self) -> int:
        return int(self.image.size)

    def describe(self) -> dict[str, object]:
        return {"description": self.description, "shape": list(self.shape), "voxels": self.voxels,
                "spacing_mm": [round(float(s), 4) for s in np.linalg.norm(self.affine[:3, :3], axis=0)]}


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"12,512,1024"`` (also ``12x512x1024``) -> ``(12, 512, 1024)``.

    Raises:
        InputError: not three positive integers, fewer than 16 in-plane voxels,
            or more than :data:`MAX_VOXELS` voxels.
    """
    items = str(text).replace("x", ",").split(",")
    try:
        shape = tuple(int(item) for item in items)
    except ValueError:
        raise InputError(f"--shape {text!r}: expected three integers SLICES,SI,AP such as 12,512,1024") from None
    if len(shape) != 3 or shape[0] < 1 or shape[1] < 16 or shape[2] < 16:
        raise InputError(f"--shape {text!r}: expected SLICES,SI,AP with at least 1 slice and 16 x 16 voxels "
                         "in-plane, e.g. 12,512,1024")
    if shape[0] * shape[1] * shape[2] > MAX_VOXELS:
        raise InputError(f"--shape {text!r}: more than {MAX_VOXELS:,} voxels")
    return shape  # type: ignore[return-value]


def phantom_input(seed: int = 0) -> BenchInput:
    """The synthetic spine MR of ``seed`` in MRSpineSeg geometry (12 x ~1000 x ~550 voxels)."""
    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(seed)
    return BenchInput(phantom.image, phantom.affine,
                      f"phantom seed {seed}, MRSpineSeg geometry {'x'.join(map(str, phantom.shape))}")


def shaped_input(shape: Sequence[int], seed: int = 0) -> BenchInput:
    """A synthetic spine MR of exactly ``shape`` ``(slices, S-I, A-P)`` at 4.4 x 0.3448 x 0.3448 mm.

    Raises:
        InputError: an invalid shape (see :func:`parse_shape`).
    """
    from spine_rt.phantoms import spine_mr

    wanted = parse_shape(",".join(str(int(s)) for s in shape))
    grid = (wanted[0], max(wanted[1], _ROOMY_GRID[0]), max(wanted[2], _ROOMY_GRID[1]))
    phantom = spine_mr(seed, shape=grid)
    start = _crop_start(phantom.labels, wanted)
    box = tuple(slice(s, s + n) for s, n in zip(start, wanted))
    affine = phantom.affine.copy()
    affine[:3, 3] = phantom.affine[:3, :3] @ np.asarray(start, float) + phantom.affine[:3, 3]
    image = np.ascontiguousarray(phantom.image[box])
    return BenchInput(image, affine, f"phantom seed {seed} cropped around the spine to {'x'.join(map(str, wanted))}")


def _crop_start(labels: np.ndarray, size: Sequence[int]) -> tuple[int, int, int]:
    """Start of a box of ``size`` centred on the labelled structures, inside the volume."""
    start = []
    for axis, length in enumerate(size):
        other = tuple(a for a in range(labels.ndim) if a != axis)
        present = np.flatnonzero(np.any(labels > 0, axis=other))
        centre = (present[0] + present[-1]) // 2 if present.size else labels.shape[axis] // 2
        start.append(int(min(max(centre - length // 2, 0), labels.shape[axis] - length)))
    return tuple(start)  # type: ignore[return-value]
