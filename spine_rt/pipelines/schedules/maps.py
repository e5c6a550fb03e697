"""``StageOneMaps``: what stage one found in a volume, and stage two's view of it.

Stage one runs at a coarser in-plane resolution than stage two. Its maps are
kept at their own resolution and sampled for each stage-two patch on demand
(see :mod:`spine_rt.pipelines.schedules.sampling` for the grid conventions):

* ``probabilities`` ``(C, X/f, Y/f, Z)``: mean softmax of the two branches,
  stride ``f`` (2) full-resolution voxels;
* ``features`` ``(F, X/(4f), Y/(4f), Z)``: both branches' decoder maps,
  stride ``4f`` (8).

A stage-two patch at full-resolution ``start`` of size ``(px, py, pz)``
gets the probabilities at full resolution ``(C, px, py, pz)`` and the
features at 1/4 resolution ``(F, px/4, py/4, pz)``, by one of two
upsamplings (:data:`STAGE_ONE_UPSAMPLINGS`):

* ``"linear"`` (spine-rt): linear interpolation between voxel centres,
  the same wherever the map was cut;
* ``"authors"`` (the SSHSNet authors' inference, recorded in packages
  exported from their checkpoints): probabilities nearest x ``f``, features
  bilinear x ``f`` with ``align_corners=True`` over the whole map (which in
  their schedule is one stage-one window), then cropped to the patch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from spine_rt.errors import InputError
from spine_rt.pipelines.schedules.sampling import repeat_in_plane, sample_align_corners, sample_in_plane

#: stage two takes the stage-one features at 1/4 of the full in-plane resolution
STAGE_TWO_FEATURE_STRIDE = 4
#: how the maps are brought to stage two's grids (see the module docstring)
STAGE_ONE_UPSAMPLINGS: tuple[str, ...] = ("linear", "authors")


@dataclass(frozen=True)
class StageOneMaps:
    """Stage one's output for one fold over one volume (see the module docstring).

    Attributes:
        probabilities: ``(C, X/f, Y/f, Z)`` float32 (numpy, or torch on a device: ``"linear"`` only).
        features: ``(F, X/(4f), Y/(4f), Z)`` float32.
        probability_stride: ``f``, full-resolution voxels per probability voxel.
        feature_stride: full-resolution voxels per feature voxel (``4f``).
        upsampling: ``"linear"`` or ``"authors"`` (module docstring).
    """

    probabilities: Any
    features: Any
    probability_stride: int
    feature_stride: int
    upsampling: str = "linear"

    def __post_init__(self) -> None:
        if self.upsampling not in STAGE_ONE_UPSAMPLINGS:
            raise InputError(f"unknown stage-one upsampling {self.upsampling!r}; "
                             f"valid: {', '.join(STAGE_ONE_UPSAMPLINGS)}")

    @property
    def classes(self) -> int:
        return int(self.probabilities.shape[0])

    @property
    def feature_channels(self) -> int:
        return int(self.features.shape[0])

    def patch_probabilities(self, start: Sequence[int], size: Sequence[int], out: Any = None) -> Any:
        """``(C, px, py, pz)``: the probabilities at full resolution on the patch at ``start`` ``(x, y, z)``
        (written into ``out`` when given)."""
        slices = slice(int(start[2]), int(start[2]) + int(size[2]))
        if self.upsampling == "authors":
            return repeat_in_plane(self.probabilities, self.probability_stride, start[:2], size[:2], slices, out)
        return sample_in_plane(self.probabilities, self.probability_stride, start[:2], size[:2], 1, slices, out)

    def patch_features(self, start: Sequence[int], size: Sequence[int]) -> Any:
        """``(F, px/4, py/4, pz)``: the features at 1/4 resolution on the patch at ``start`` ``(x, y, z)``."""
        stride = STAGE_TWO_FEATURE_STRIDE
        slices = slice(int(start[2]), int(start[2]) + int(size[2]))
        box = (int(size[0]) // stride, int(size[1]) // stride)
        if self.upsampling == "authors":
            first = (int(start[0]) // stride, int(start[1]) // stride)
            return sample_align_corners(self.features, self.feature_stride // stride, first, box, slices)
        return sample_in_plane(self.features, self.feature_stride, start[:2], box, stride, slices)


def full_resolution_rows(rows_of: Callable[[slice], Any], stride: int, rows: slice, size_y: int,
                         length: int) -> Any:
    """``(C, len(rows), Y, Z)``: stage-one probabilities of stride ``f`` at full resolution, on rows ``rows`` of
    the full-resolution ``X`` axis (``size_y`` columns).

    ``rows_of(band)`` gives the map's rows ``band`` ``(C, n, Y/f, Z)`` (of ``length`` rows in all): only the
    rows the interpolation reads are asked for, so a map computed on request (the folds' mean) is never
    made whole. Sampling the band is exactly sampling the whole map (the band holds every row read, and
    is clamped only where the map ends).
    """
    band = slice(max(rows.start // stride - 1, 0), min((rows.stop - 1) // stride + 2, length))
    count = rows.stop - rows.start
    return sample_in_plane(rows_of(band), stride, (rows.start - band.start * stride, 0), (count, size_y), 1)
