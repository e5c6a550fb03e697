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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, Stitcher, importance_profiles
from spine_rt.patching.array_backend import NumpyBackend
from spine_rt.pipelines.stage_one_maps import StageOneMaps
from spine_rt.pipelines.stage_runners import StageRunners


#: receives ``(rows, probabilities (C, n, Y, Z), covered (n, Y, Z))`` for final rows of ``X``
RowsConsumer = Callable[[slice, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class StageTwoRun:
    """What the stage-two sliding window gave.

    Attributes:
        probabilities: ``(C, X, Y, Z)`` float32 blended stage-two softmax where
            ``covered``, 0 elsewhere; ``None`` when no window ran or the rows
            went to a ``rows_consumer``.
        covered: ``(X, Y, Z)`` bool, voxels inside at least one window that ran.
        windows_run / windows_total: windows that ran / planned.
        calls: calls per fold (each with ``batch_size`` windows).
    """

    probabilities: np.ndarray | None
    covered: np.ndarray
    windows_run: int
    windows_total: int
    calls: int


def softmax(logits: np.ndarray, axis: int = 1, in_place: bool = False) -> np.ndarray:
    """Numerically stable softmax over ``axis``; with ``in_place`` (float32 input) ``logits`` is overwritten."""
    values = logits if in_place and logits.dtype == np.float32 else logits.astype(np.float32)
    values -= values.max(axis=axis, keepdims=True)
    np.exp(values, out=values)
    values /= values.sum(axis=axis, keepdims=True)
    return values


def windows_touching(grid: PatchGrid, roi: np.ndarray | None) -> np.ndarray:
    """C-order indices of the windows of ``grid`` that touch ``roi`` (all windows without one)."""
    if roi is None:
        return np.arange(len(grid))
    _, lo, hi = grid.window_boxes()
    # a summed-area table answers "any ROI voxel in this box" in O(1) per window; int32 (4 bytes per voxel,
    # summed in place) holds the count of any volume below 2**31 voxels
    if roi.size >= 2**31:
        raise InputError(f"stage two: a volume of {roi.size} voxels is beyond 2**31; split the scan")
    table = np.zeros(tuple(n + 1 for n in roi.shape), np.int32)
    table[1:, 1:, 1:] = roi
    for axis in range(3):
        np.cumsum(table, axis=axis, out=table)
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
    rows_consumer: RowsConsumer | None = None,
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
        rows_consumer: bounded memory: instead of returning the probability
            volume, hand it over in blocks of rows of ``X`` as soon as no
            window left can change them (``rows, probabilities (C, n, Y, Z),
            covered (n, Y, Z)``; the block is reused after the call). Every row
            is handed over exactly once, in order, also when no window runs.

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
        if rows_consumer is not None:
            _hand_over_empty_rows(rows_consumer, covered, maps[0].classes, patch[0])
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
        mean = None
        feeds: dict[int, dict[str, np.ndarray]] = {}  # stage-one folds shared by stage-two folds are sampled once
        for fold, runner in enumerate(stage.runners):
            source = fold_pairs[fold]
            if source not in feeds:
                feeds[source] = _feed(volume, maps[source], [starts[k] for k in slots], patch, image_name,
                                      feature_name)
            returned = runner.infer(feeds[source])[output_name]
            prediction = np.asarray(returned, np.float32)
            if output_is_logits:  # the runner's output array is ours: no copy
                prediction = softmax(prediction, in_place=prediction.flags.writeable)
            if mean is None:
                mean = prediction
            else:
                mean += prediction
        if stage.fold_count > 1:
            mean /= stage.fold_count
        calls += 1
        if stitcher is None:
            if mean.shape[2:] != patch:
                raise InputError(f"stage two returned {mean.shape}, expected (B, C, {', '.join(map(str, patch))})")
            consumer = None
            if rows_consumer is not None:
                # rows leave the stitcher only once no later window touches them: their coverage is final
                def consumer(rows: slice, block: np.ndarray) -> None:
                    rows_consumer(rows, block[0], covered[rows])
            stitcher = _stitcher(grid, run, mean.shape[1], mode, consumer)
        for slot, k in enumerate(chunk):
            stitcher.add(k, 0, mean[slot])
            covered[_window(starts[k], patch)] = True
    finished = stitcher.finish()
    probabilities = None if finished is None else finished[0]
    return StageTwoRun(probabilities, covered, len(run), len(grid), calls)


def _hand_over_empty_rows(rows_consumer: RowsConsumer, covered: np.ndarray, channels: int, rows_per_block: int) -> None:
    size_x = covered.shape[0]
    block = np.zeros((channels, min(rows_per_block, size_x), *covered.shape[1:]), np.float32)
    for first in range(0, size_x, rows_per_block):
        rows = slice(first, min(first + rows_per_block, size_x))
        part = block[:, : rows.stop - rows.start]
        part[...] = 0.0
        rows_consumer(rows, part, covered[rows])


def _stitcher(grid: PatchGrid, run: np.ndarray, channels: int, mode: str,
              consumer: Callable[[slice, np.ndarray], None] | None) -> Stitcher:
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
        slab=consumer is not None,
        consumer=consumer,
    )


def _feed(volume: np.ndarray, maps: StageOneMaps, starts: Sequence[np.ndarray], patch: tuple[int, ...],
          image_name: str, feature_name: str) -> dict[str, np.ndarray]:
    """Stage two's inputs for a batch: MR + full-resolution probabilities, and 1/4-resolution features."""
    image = np.empty((len(starts), 1 + maps.classes, *patch), np.float32)
    for slot, start in enumerate(starts):
        image[slot, 0] = volume[_window(start, patch)]
        maps.patch_probabilities(start, patch, out=image[slot, 1:])
    features = np.stack([maps.patch_features(start, patch) for start in starts])
    return {image_name: image, feature_name: features}


def _window(start: np.ndarray, patch: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(int(s), int(s) + p) for s, p in zip(start, patch))
