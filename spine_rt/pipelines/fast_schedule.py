"""The fast schedule: stage one once per slice, stage two only near the spine, fusion.

For a normalised volume ``(X, Y, Z)`` on the full-resolution model grid:

1. downsample in-plane by ``f`` (2) to stage one's grid (block mean);
2. stage one on every slice once, batched, every fold
   (:func:`~spine_rt.pipelines.stage_one_runner.run_stage_one`);
3. region of interest = stage one's foreground (fold mean) dilated by
   ``roi_margin_mm`` (or everything with ``roi=False``);
4. stage two over the windows touching the ROI
   (:func:`~spine_rt.pipelines.stage_two_window.run_stage_two`), Gaussian
   blending, window starts aligned to the stage-one feature grid;
5. fusion: stage two where a window ran, stage one elsewhere; when only
   labels are wanted this happens row slab by row slab inside the stitcher
   (bounded memory: the 20-channel volume is never held whole).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from spine_rt.pipelines.fusion import fuse_probabilities, fuse_rows, labels_from_probabilities
from spine_rt.pipelines.grid_prediction import GridPrediction
from spine_rt.pipelines.in_plane_sampling import downsample_in_plane
from spine_rt.pipelines.stage_one_maps import full_resolution_rows, mean_probabilities
from spine_rt.pipelines.stage_one_roi import stage_one_roi
from spine_rt.pipelines.stage_one_runner import STAGE_ONE_FEATURE_STRIDE, run_stage_one
from spine_rt.pipelines.stage_runners import StageRunners, pair_folds
from spine_rt.pipelines.stage_two_window import run_stage_two

#: rows of ``X`` fused and reduced to labels at a time when only labels are kept
LABEL_ROWS_PER_STEP = 16


@dataclass(frozen=True)
class FastSchedule:
    """Settings of the fast schedule (see the module docstring).

    Attributes:
        stage_one / stage_two: the runners.
        resolution_factor: ``f``, full-resolution voxels per stage-one voxel in-plane.
        stage_one_spacing_mm: stage one's voxel size (for the ROI margin).
        stage_one_batch_size / stage_two_batch_size: windows per call.
        roi: run stage two only near stage one's foreground.
        roi_margin_mm: dilation of the foreground (mm).
        overlap: overlap of stage-two windows (fraction of the patch).
        host_threads: build stage two's inputs and blend its outputs on worker
            threads beside the backend (:mod:`~spine_rt.pipelines.host_threads`).
    """

    stage_one: StageRunners
    stage_two: StageRunners
    resolution_factor: int
    stage_one_spacing_mm: tuple[float, float, float]
    stage_one_batch_size: int
    stage_two_batch_size: int
    roi: bool
    roi_margin_mm: float
    overlap: float
    host_threads: bool = True

    name = "fast"

    @property
    def size_multiple(self) -> tuple[int, int, int]:
        """The network volume's in-plane sizes are multiples of this (see :func:`network_size_multiple`)."""
        return network_size_multiple(self.resolution_factor)

    @property
    def minimum_shape(self) -> tuple[int, int, int]:
        """The network volume holds at least one stage-two patch."""
        return network_minimum_shape(self.stage_two)

    def predict(self, volume: np.ndarray, keep_probabilities: bool = True) -> GridPrediction:
        """Probabilities ``(C, X, Y, Z)`` for a prepared volume ``(X, Y, Z)``.

        With ``keep_probabilities=False`` only the labels are kept: stage two's
        blended probabilities are fused and reduced to labels slab by slab as
        soon as no window can change them, so no ``(C, X, Y, Z)`` volume is held.
        """
        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        half = downsample_in_plane(volume, self.resolution_factor)
        stage_one = run_stage_one(half, self.stage_one, self.stage_one_batch_size, self.resolution_factor)
        seconds["stage_one"] = time.perf_counter() - clock

        clock = time.perf_counter()
        fold_mean = mean_probabilities(stage_one.maps)
        roi = None
        if self.roi:
            roi = stage_one_roi(fold_mean, self.stage_one_spacing_mm, self.roi_margin_mm, self.resolution_factor)
        seconds["roi"] = time.perf_counter() - clock

        clock = time.perf_counter()
        step = self.resolution_factor * STAGE_ONE_FEATURE_STRIDE
        size_y = volume.shape[1]
        labels = None
        rows_consumer = None
        if not keep_probabilities:
            labels = np.empty(volume.shape, np.uint8)

            def rows_consumer(rows: slice, probabilities: np.ndarray, covered: np.ndarray) -> None:
                # a few rows at a time: stage one's full-resolution rows and the argmax stay small
                for first in range(0, rows.stop - rows.start, LABEL_ROWS_PER_STEP):
                    part = slice(first, min(first + LABEL_ROWS_PER_STEP, rows.stop - rows.start))
                    volume_rows = slice(rows.start + part.start, rows.start + part.stop)
                    fuse_rows(probabilities[:, part], covered[part],
                              lambda: full_resolution_rows(fold_mean, self.resolution_factor, volume_rows, size_y))
                    labels[volume_rows] = labels_from_probabilities(probabilities[:, part])

        stage_two = run_stage_two(
            volume,
            stage_one.maps,
            self.stage_two,
            pair_folds(self.stage_one, self.stage_two),
            self.stage_two_batch_size,
            roi=roi,
            overlap=self.overlap,
            mode="gaussian",
            alignment=(step, step, 1),
            rows_consumer=rows_consumer,
            host_threads=self.host_threads,
        )
        seconds["stage_two"] = time.perf_counter() - clock  # includes the fusion when done slab by slab

        clock = time.perf_counter()
        probabilities = None
        if keep_probabilities:
            probabilities = fuse_probabilities(
                stage_two.probabilities,
                stage_two.covered,
                lambda rows: full_resolution_rows(fold_mean, self.resolution_factor, rows, size_y),
            )
        seconds["fusion"] = time.perf_counter() - clock
        counts = {
            "stage_one_slices": stage_one.slices,
            "stage_one_windows_per_slice": stage_one.windows_per_slice,
            "stage_one_calls": stage_one.calls,
            "stage_two_patches_run": stage_two.windows_run,
            "stage_two_patches_total": stage_two.windows_total,
            "stage_two_calls": stage_two.calls,
            "stage_two_voxels_covered": int(np.count_nonzero(stage_two.covered)),
            "voxels": int(volume.size),
        }
        return GridPrediction(probabilities, counts, seconds, labels)


def network_size_multiple(resolution_factor: int) -> tuple[int, int, int]:
    """In-plane sizes of a fast-schedule network volume are multiples of this (stage-one feature voxels tile it)."""
    step = resolution_factor * STAGE_ONE_FEATURE_STRIDE
    return (step, step, 1)


def network_minimum_shape(stage_two: StageRunners) -> tuple[int, int, int]:
    """The smallest fast-schedule network volume: one stage-two patch."""
    return tuple(int(p) for p in stage_two.patch_size)  # type: ignore[return-value]
