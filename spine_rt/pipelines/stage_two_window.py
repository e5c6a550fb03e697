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
repeating its last window; the padded predictions are dropped); a
``batch_size`` above the windows that run is clamped to them, and one whose
inputs and outputs exceed the available memory is refused
(:func:`spine_rt.pipelines.batch_memory.fit_batch`). Each fold
gets the maps of its paired stage-one fold; the folds' softmax outputs are
averaged and blended into one volume by :class:`spine_rt.patching.Stitcher`
(Gaussian or uniform importance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, Stitcher, importance_profiles
from spine_rt.patching.array_backend import NumpyBackend
from spine_rt.pipelines.batch_memory import fit_batch, window_bytes
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
    host_threads: bool = True,
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
            With ``host_threads`` it is called from a worker thread.
        host_threads: build the next batch's inputs and blend the previous
            batch's outputs on two worker threads while the networks run
            (:func:`_run_overlapped`); the result is the same as without.

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

    # inputs (MR + probabilities, features at 1/16 of the voxels) and each fold's output, per window
    per_window = (window_bytes(1 + 2 * maps[0].classes * max(1, stage.fold_count), patch)
                  + window_bytes(maps[0].feature_channels, patch) // 16)
    batch_size = fit_batch(batch_size, len(run), per_window, "batch size")
    starts = grid.window_starts()[run]
    image_name, feature_name = stage.input_names[:2]
    output_name = stage.output_names[0]
    output_is_logits = output_name != "probabilities"
    chunks = [list(range(first, min(first + batch_size, len(run)))) for first in range(0, len(run), batch_size)]
    sources = sorted(set(fold_pairs))
    stitcher: Stitcher | None = None

    def build(chunk: list[int]) -> dict[int, dict[str, np.ndarray]]:
        """The batch's feeds, one per stage-one fold in use (shared by the stage-two folds paired with it)."""
        slots = chunk + [chunk[-1]] * (batch_size - len(chunk))
        window_starts = [starts[k] for k in slots]
        return {source: _feed(volume, maps[source], window_starts, patch, image_name, feature_name)
                for source in sources}

    def blend(chunk: list[int], returned: list[np.ndarray]) -> None:
        """Softmax, fold mean and Gaussian blending of one batch (in call order)."""
        nonlocal stitcher
        mean = None
        for output in returned:
            prediction = np.asarray(output, np.float32)
            if output_is_logits:  # the runner's output array is ours: no copy
                prediction = softmax(prediction, in_place=prediction.flags.writeable)
            if mean is None:
                mean = prediction
            else:
                mean += prediction
        if stage.fold_count > 1:
            mean /= stage.fold_count
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

    def infer(feeds: dict[int, dict[str, np.ndarray]]) -> list[np.ndarray]:
        return [runner.infer(feeds[fold_pairs[fold]])[output_name] for fold, runner in enumerate(stage.runners)]

    if host_threads:
        _run_overlapped(chunks, build, infer, blend)
    else:
        for chunk in chunks:
            blend(chunk, infer(build(chunk)))
    assert stitcher is not None
    finished = stitcher.finish()
    probabilities = None if finished is None else finished[0]
    return StageTwoRun(probabilities, covered, len(run), len(grid), len(chunks))


def _run_overlapped(chunks: list[list[int]], build: Callable[[list[int]], dict[int, dict[str, np.ndarray]]],
                    infer: Callable[[dict[int, dict[str, np.ndarray]]], list[np.ndarray]],
                    blend: Callable[[list[int], list[np.ndarray]], None]) -> None:
    """Run ``build -> infer -> blend`` per batch with the host work off the calling thread.

    One worker builds batch ``k + 1``'s feeds and another blends batch
    ``k - 1`` while the calling thread runs the networks on batch ``k`` (the
    backends and numpy release the GIL in their long loops). Each worker
    handles its batches in order, so the result is the sequential one; at
    most two batches' feeds and one batch's outputs wait at a time. An
    exception in a worker is raised here when its batch is collected.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="spine-rt-feed") as feeder, \
            ThreadPoolExecutor(1, thread_name_prefix="spine-rt-blend") as blender:
        next_feeds = feeder.submit(build, chunks[0])
        blending: Future[None] | None = None
        for index, chunk in enumerate(chunks):
            feeds = next_feeds.result()
            if index + 1 < len(chunks):
                next_feeds = feeder.submit(build, chunks[index + 1])
            returned = infer(feeds)
            del feeds
            if blending is not None:
                blending.result()  # blends stay in order, and at most one batch's outputs wait
            blending = blender.submit(blend, chunk, returned)
        assert blending is not None
        blending.result()


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
