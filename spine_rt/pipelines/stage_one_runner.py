"""Stage one over a whole volume: every sagittal slice once, batched, every fold.

Each slice ``z`` becomes a 3-channel picture ``(z-1, z, z+1)`` (edge slices
repeated) at stage one's resolution. The slices are the images of a 2D
sliding window (:func:`spine_rt.patching.run_sliding_window`) with the
stage's static patch size: a slice that fits one patch is centred in it and
padded with background (one window per slice); a larger slice is tiled with
overlapping windows blended with Gaussian weights. Every predictor call gets
exactly ``batch_size`` windows (the last batch is padded by repeating its
last window). Each call runs every fold on the same batch, so a slice is
read once and each fold's runner sees it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import run_sliding_window
from spine_rt.pipelines.stage_one_maps import StageOneMaps
from spine_rt.pipelines.stage_runners import StageRunners

#: stage one's features lie at 1/4 of its input resolution (decoder stride)
STAGE_ONE_FEATURE_STRIDE = 4
#: overlap of stage-one windows when a slice is larger than one patch
STAGE_ONE_OVERLAP = 0.25


@dataclass(frozen=True)
class StageOneRun:
    """What running stage one over a volume gave.

    Attributes:
        maps: one :class:`StageOneMaps` per fold of the stage.
        slices: slices of the volume (each run once per window of the slice).
        windows_per_slice: stage-one windows tiling one slice (1 when a slice fits the patch).
        calls: predictor calls; each ran every fold on ``batch_size`` windows.
        batch_size: windows per call.
    """

    maps: tuple[StageOneMaps, ...]
    slices: int
    windows_per_slice: int
    calls: int
    batch_size: int


def slice_triplets(volume: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` -> ``(Z, 3, X, Y)`` float32: slice ``z`` with its neighbours ``z-1, z, z+1`` as channels.

    The first and last slices repeat themselves as their missing neighbour.
    """
    size_z = volume.shape[2]
    below = np.clip(np.arange(size_z) - 1, 0, size_z - 1)
    above = np.clip(np.arange(size_z) + 1, 0, size_z - 1)
    slices = np.moveaxis(volume, 2, 0).astype(np.float32, copy=False)  # (Z, X, Y)
    return np.ascontiguousarray(np.stack([slices[below], slices, slices[above]], axis=1))


def run_stage_one(
    volume: np.ndarray,
    stage: StageRunners,
    batch_size: int,
    resolution_factor: int,
    overlap: float = STAGE_ONE_OVERLAP,
) -> StageOneRun:
    """Run stage one on every slice of ``volume`` (already at stage one's resolution).

    Args:
        volume: ``(X, Y, Z)`` float32 at stage one's in-plane spacing; ``X`` and
            ``Y`` multiples of 4.
        stage: the stage-one runners (one per fold), graph input ``slices``
            ``(N, 3, px, py)``, outputs probabilities ``(N, C, px, py)`` and
            features ``(N, F, px/4, py/4)``.
        batch_size: windows per call (fixed; the last batch is padded).
        resolution_factor: ``f``, full-resolution voxels per stage-one voxel.
        overlap: overlap of windows when a slice is larger than one patch.

    Returns:
        :class:`StageOneRun` with the maps of every fold.

    Raises:
        InputError: a runner returned outputs of the wrong shape.
    """
    if volume.shape[0] % STAGE_ONE_FEATURE_STRIDE or volume.shape[1] % STAGE_ONE_FEATURE_STRIDE:
        raise InputError(f"stage one needs in-plane sizes that are multiples of {STAGE_ONE_FEATURE_STRIDE}, "
                         f"got {volume.shape[:2]}")
    probability_name, feature_name = stage.output_names[:2]
    input_name = stage.input_names[0]

    def predict(batch: np.ndarray) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for fold, runner in enumerate(stage.runners):
            returned = runner.infer({input_name: batch})
            outputs[f"probabilities{fold}"] = returned[probability_name]
            outputs[f"features{fold}"] = returned[feature_name]
        return outputs

    size_z = volume.shape[2]
    triplets = slice_triplets(volume)
    result = run_sliding_window(
        triplets,
        predict,
        tuple(stage.patch_size),
        overlap=overlap,
        batch_size=batch_size,
        mode="gaussian",
        alignment=STAGE_ONE_FEATURE_STRIDE,
    )
    windows_total, calls = result.windows_total, result.predictor_calls
    del triplets
    outputs = dict(result.outputs)
    del result  # each stitched output is freed as soon as its (C, X, Y, Z) copy exists: one extra output at a time
    maps = tuple(
        StageOneMaps(
            probabilities=_slices_last(outputs, f"probabilities{fold}"),
            features=_slices_last(outputs, f"features{fold}"),
            probability_stride=resolution_factor,
            feature_stride=resolution_factor * STAGE_ONE_FEATURE_STRIDE,
        )
        for fold in range(stage.fold_count)
    )
    return StageOneRun(maps, size_z, windows_total, calls, batch_size)


def _slices_last(outputs: dict[str, Any], name: str) -> np.ndarray:
    """Take ``outputs[name]`` ``(Z, C, X, Y)`` out of ``outputs`` and return it as ``(C, X, Y, Z)`` contiguous."""
    stitched = outputs.pop(name)
    return np.ascontiguousarray(np.moveaxis(stitched, 0, -1))
