"""Stage two as a sliding window over the full-resolution volume.

Windows are planned by :class:`spine_rt.patching.PatchGrid` (starts aligned
to the stage-one feature grid, the last window flush with the edge) and only
windows that touch the region of interest run. Each window's inputs are
assembled here because stage two takes two inputs at two resolutions:

* ``image`` ``(B, 1 + C, px, py, pz)``: the MR patch and the patch's
  stage-one probabilities at full resolution;
* ``stage_one_features`` ``(B, F, px/4, py/4, pz)``: the stage-one features
  at 1/4 resolution, cropped to the patch.

Every call gets exactly ``batch_size`` windows (the last batch is padded by
repeating its last window; the padded predictions are dropped). Each fold
gets the maps of its paired stage-one fold; the folds' softmax outputs are
averaged and blended into one volume by :class:`spine_rt.patching.Stitcher`
(Gaussian or uniform importance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, Stitcher, importance_profiles
from spine_rt.patching.array_backend import NumpyBackend
from spine_rt.pipelines.stage_one_maps import StageOneMaps
from spine_rt.pipelines.stage_runners import StageRunners


@dataclass(frozen=True)
class StageTwoRun:
    """What the stage-two sliding window gave.

    Attributes:
        probabilities: ``(C, X, Y, Z)`` float32 blended stage-two softmax where
            ``covered``, 0 elsewhere; ``None`` when no window ran.
        covered: ``(X, Y, Z)`` bool, voxels inside at least one window that ran.
        windows_run / windows_total: windows that ran / planned.
        calls: calls per fold (each with ``batch_size`` windows).
    """

    probabilities: np.ndarray | None
    covered: np.ndarray
    windows_run: int
    windows_total: int
    calls: int


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Numerically stable softmax over ``axis`` (float32)."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exponentials = np.exp(shifted, dtype=np.float32)
    exponentials /= exponentials.sum(axis=axis, keepdims=True)
    return exponentials


def windows_touching(grid: PatchGrid, roi: np.ndarray | None) -> np.ndarray:
    """C-order indices of the windows of ``grid`` that touch ``roi`` (all windows without one)."""
    if roi is None:
        return np.arange(len(grid))
    _, lo, hi = grid.window_boxes()
    # a summed-area table answers "any ROI voxel in this box" in O(1) per window
    table = np.pad(roi.astype(np.int64), [(1, 0)] * roi.ndim).cumsum(0).cumsum(1).cumsum(2)
    (x0, y0, z0), (x1, y1, z1) = lo.T, hi.T
    count = (table[x1, y1, z1] - table[x0, y1, z1] - table[x1, y0, z1] - table[x1, y1, z0]
             + table[x0, y0, z1] + table[x0, y1, z0] + table[x1, y0, z0] - table[x0, y0, z0])
    return np.flatnonzero(count > 0)


def run_stage_two(
    volume: np.ndarray,
    maps: Sequence[StageOneMaps],
    stage: StageRunners,
    fold_pairs: Sequence[int],
    batch_size: int,
    roi: np.ndarray | None = None,
    overlap: float | Sequence[float] = 0.5,
    stride: Sequence[int | None] | None = None,
    mode: str = "gaussian",
    alignment: Sequence[int] = (1, 1, 1),
) -> StageTwoRun:
    """Run stage two over ``volume`` where ``roi`` says (everywhere when ``roi`` is None).

    Args:
        volume: ``(X, Y, Z)`` float32 normalised MR at full resolution, at least one patch in size.
        maps: stage one's maps over the same volume, one per stage-one fold.
        stage: the stage-two runners; inputs ``(image, stage_one_features)``,
            output logits (softmax applied here) or probabilities.
        fold_pairs: for each stage-two fold, the index into ``maps`` it uses.
        batch_size: windows per call.
        roi: ``(X, Y, Z)`` bool; windows that do not touch it do not run.
        overlap / stride: window spacing (see :meth:`PatchGrid.plan`).
        mode: ``"gaussian"`` or ``"constant"`` importance.
        alignment: window starts are multiples of this per axis (the last one
            is flush with the edge), e.g. ``(8, 8, 1)`` so patches start on
            stage-one feature voxels.

    Raises:
        InputError: the volume is smaller than a patch, or a runner's output does not fit.
    """
    patch = tuple(int(p) for p in stage.patch_size)
    if any(n < p for n, p in zip(volume.shape, patch)):
        raise InputError(f"stage two: volume {volume.shape} is smaller than the patch {patch}; pad it first")
    grid = PatchGrid.plan(volume.shape, patch, overlap=overlap, stride=stride, alignment=tuple(alignment))
    run = windows_touching(grid, roi)
    covered = np.zeros(volume.shape, bool)
    if len(run) == 0:
        return StageTwoRun(None, covered, 0, len(grid), 0)

    starts = grid.window_starts()[run]
    image_name, feature_name = stage.input_names[:2]
    output_name = stage.output_names[0]
    output_is_logits = output_name != "probabilities"
    stitcher = None
    calls = 0
    for first in range(0, len(run), batch_size):
        chunk = list(range(first, min(first + batch_size, len(run))))
        slots = chunk + [chunk[-1]] * (batch_size - len(chunk))
        mr = np.stack([_crop(volume, starts[k], patch) for k in slots])[:, None]
        mean = None
        feeds: dict[int, dict[str, np.ndarray]] = {}  # stage-one folds shared by stage-two folds are sampled once
        for fold, runner in enumerate(stage.runners):
            source = fold_pairs[fold]
            if source not in feeds:
                feeds[source] = _feed(maps[source], mr, [starts[k] for k in slots], patch, image_name, feature_name)
            returned = runner.infer(feeds[source])[output_name]
            prediction = np.asarray(returned, np.float32)
            if output_is_logits:
                prediction = softmax(prediction)
            mean = prediction if mean is None else mean + prediction
        if stage.fold_count > 1:
            mean /= stage.fold_count
        calls += 1
        if stitcher is None:
            if mean.shape[2:] != patch:
                raise InputError(f"stage two returned {mean.shape}, expected (B, C, {', '.join(map(str, patch))})")
            stitcher = _stitcher(grid, run, mean.shape[1], mode)
        for slot, k in enumerate(chunk):
            stitcher.add(k, 0, mean[slot])
            covered[_window(starts[k], patch)] = True
    probabilities = stitcher.finish()[0]
    return StageTwoRun(probabilities, covered, len(run), len(grid), calls)


def _stitcher(grid: PatchGrid, run: np.ndarray, channels: int, mode: str) -> Stitcher:
    backend = NumpyBackend()
    return Stitcher(
        backend,
        grid,
        run,
        importance_profiles(grid.patch_size, mode),
        images=1,
        channels=channels,
        dtype=np.dtype(np.float32),
        fill=np.zeros(channels, np.float32),
    )


def _feed(maps: StageOneMaps, mr: np.ndarray, starts: Sequence[np.ndarray], patch: tuple[int, ...],
          image_name: str, feature_name: str) -> dict[str, np.ndarray]:
    """Stage two's inputs for a batch: MR + full-resolution probabilities, and 1/4-resolution features."""
    probabilities = np.stack([maps.patch_probabilities(start, patch) for start in starts])
    features = np.stack([maps.patch_features(start, patch) for start in starts])
    return {image_name: np.concatenate([mr, probabilities], axis=1), feature_name: features}


def _window(start: np.ndarray, patch: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(int(s), int(s) + p) for s, p in zip(start, patch))


def _crop(volume: np.ndarray, start: np.ndarray, patch: Sequence[int]) -> np.ndarray:
    return volume[_window(start, patch)]

