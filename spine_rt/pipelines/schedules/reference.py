"""The authors' inference schedule (SEEDS.md), reproduced as the baseline to beat.

It runs the fast schedule's stage one and stage two (the same splitter and
merger) inside every outer window, with the authors' strides, uniform
blending and no ROI.

For a normalised volume ``(X, Y, Z)`` on the full-resolution model grid:

1. pad in-plane (and across slices) with background to at least one outer
   window, centred;
2. outer windows ``512 x 1024 x 12`` with stride ``100 / 100 / 6`` (the last
   window flush with the edge, :class:`~spine_rt.patching.PatchGrid`);
3. for every outer window, stage one is run again on all its slices (at
   half resolution, the neighbours of the window's edge slices repeated);
4. inside the window, stage-two patches ``192 x 192 x 12`` with stride
   ``81 / 81 / 1``: 5 x 12 x 1 = 60 patches, batches of 20, every patch runs
   (no ROI); the window's probabilities are the uniform average of its
   patches (no Gaussian);
   stage one's maps reach the patch by spine-rt's linear sampling, or, for
   packages from the authors' checkpoints (``stage_one_upsampling=
   "authors"``), as the authors' script does it: softmax x2 nearest,
   decoder maps x2 bilinear ``align_corners=True`` over the window;
5. the volume's probabilities are the uniform average of the windows
   covering each voxel; folds are averaged per patch; argmax, padding and
   crop undone and nearest resize back happen in the pipeline as for the
   fast schedule. No post-processing, no TTA.

The outer window in-plane is ``f`` x stage one's patch (2 x 512 x 256 =
1024 x 512 along (S->I, A->P): SEEDS' "512 x 1024" read with the long side
along the spine, the reading that pads a sagittal scan least and so favours
the baseline) and its depth stage two's patch depth (12), so stage one sees
exactly its graph's size. When a package's patches are the paper's these are
exactly SEEDS' numbers; for other patch sizes the strides are scaled in
proportion (``100/512`` of the outer window, ``81/192`` of the patch).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from spine_rt.patching import PatchGrid
from spine_rt.pipelines.schedules.prediction import GridPrediction
from spine_rt.pipelines.schedules.sampling import downsample_in_plane
from spine_rt.pipelines.schedules.stage_one import run_stage_one
from spine_rt.pipelines.schedules.stage_two import run_stage_two
from spine_rt.pipelines.stage_runners import StageRunners, pair_folds
from spine_rt.pipelines.spine_mr.volume_padding import VolumePadding

#: SEEDS.md, the authors' schedule
PAPER_OUTER_WINDOW = (1024, 512, 12)  # (S->I, A->P, slices)
PAPER_OUTER_STRIDE = (100, 100, 6)
PAPER_PATCH = (192, 192, 12)
PAPER_INNER_STRIDE = (81, 81, 1)
PAPER_BATCH_SIZE = 20


@dataclass(frozen=True)
class ReferenceWindows:
    """Outer windows, their strides, the inner stride and the stage-two batch size."""

    outer_window: tuple[int, int, int] = PAPER_OUTER_WINDOW
    outer_stride: tuple[int, int, int] = PAPER_OUTER_STRIDE
    inner_stride: tuple[int, int, int] = PAPER_INNER_STRIDE
    batch_size: int = PAPER_BATCH_SIZE

    @classmethod
    def for_patches(
        cls, stage_one_patch: Sequence[int], stage_two_patch: Sequence[int], resolution_factor: int
    ) -> ReferenceWindows:
        """SEEDS' numbers for the paper's patch sizes, scaled in proportion for others."""
        outer = (resolution_factor * int(stage_one_patch[0]), resolution_factor * int(stage_one_patch[1]),
                 int(stage_two_patch[2]))
        outer_stride = tuple(
            max(1, min(o, round(o * s / p))) for o, s, p in zip(outer, PAPER_OUTER_STRIDE, PAPER_OUTER_WINDOW)
        )
        inner_stride = tuple(
            max(1, min(q, round(q * s / p))) for q, s, p in zip(stage_two_patch, PAPER_INNER_STRIDE, PAPER_PATCH)
        )
        return cls(outer, outer_stride, inner_stride, PAPER_BATCH_SIZE)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReferenceSchedule:
    """The authors' schedule (see the module docstring).

    Attributes:
        stage_one / stage_two: the runners.
        resolution_factor: ``f``, full-resolution voxels per stage-one voxel in-plane.
        windows: outer/inner windows and batch size.
        host_threads: stage two's host work on worker threads (see
            :mod:`~spine_rt.pipelines.schedules.host_threads`).
        stage_one_upsampling: ``"linear"`` or ``"authors"`` (step 4).
    """

    stage_one: StageRunners
    stage_two: StageRunners
    resolution_factor: int
    windows: ReferenceWindows
    host_threads: bool = True
    stage_one_upsampling: str = "linear"

    name = "reference"

    @property
    def size_multiple(self) -> tuple[int, int, int]:
        return (self.resolution_factor, self.resolution_factor, 1)

    @property
    def minimum_shape(self) -> tuple[int, int, int]:
        return self.windows.outer_window

    def predict(self, volume: np.ndarray, keep_probabilities: bool = True) -> GridPrediction:
        """Probabilities ``(C, X, Y, Z)`` for a prepared volume ``(X, Y, Z)``.

        The authors' schedule holds the whole probability volume; ``keep_probabilities`` is ignored.
        """
        padding = VolumePadding.to_fit(volume.shape, (1, 1, 1), self.windows.outer_window)
        padded = padding.pad(volume, 0.0)
        outer = PatchGrid.plan(padded.shape, self.windows.outer_window, stride=self.windows.outer_stride)
        pairs = pair_folds(self.stage_one, self.stage_two)
        total: np.ndarray | None = None
        windows_covering = np.zeros(padded.shape, np.uint16)
        counts = {"stage_one_calls": 0, "stage_one_slices": 0, "stage_two_calls": 0, "stage_two_patches_run": 0,
                  "stage_two_patches_total": 0, "outer_windows": len(outer)}
        seconds = {"stage_one": 0.0, "stage_two": 0.0}
        for index in range(len(outer)):
            window = outer.window_slices(index)
            block = np.ascontiguousarray(padded[window])
            clock = time.perf_counter()
            half = downsample_in_plane(block, self.resolution_factor)
            stage_one = run_stage_one(half, self.stage_one, block.shape[2], self.resolution_factor)
            maps = [replace(fold_maps, upsampling=self.stage_one_upsampling) for fold_maps in stage_one.maps]
            seconds["stage_one"] += time.perf_counter() - clock
            clock = time.perf_counter()
            stage_two = run_stage_two(
                block, maps, self.stage_two, pairs, self.windows.batch_size,
                roi=None, stride=self.windows.inner_stride, mode="constant", host_threads=self.host_threads,
            )
            seconds["stage_two"] += time.perf_counter() - clock
            if total is None:
                total = np.zeros((stage_two.probabilities.shape[0], *padded.shape), np.float32)
            total[(slice(None), *window)] += stage_two.probabilities
            windows_covering[window] += 1
            counts["stage_one_calls"] += stage_one.calls
            counts["stage_one_slices"] += stage_one.slices
            counts["stage_two_calls"] += stage_two.calls
            counts["stage_two_patches_run"] += stage_two.windows_run
            counts["stage_two_patches_total"] += stage_two.windows_total
        total /= windows_covering[None]
        counts["reference_patches_per_window"] = counts["stage_two_patches_total"] // len(outer)
        counts["voxels"] = int(volume.size)
        return GridPrediction(np.ascontiguousarray(padding.unpad(total)), counts, seconds)
