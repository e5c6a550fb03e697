"""Stage two as a sliding window over the full-resolution volume, on numpy or a torch device.

Windows come from a :class:`~spine_rt.patching.PatchGrid` (the splitter;
starts aligned to the stage-one feature grid, the last window flush with the
edge); the caller chooses which run (the ROI filter,
:mod:`~spine_rt.pipelines.schedules.roi`) and may hand them over in several
steps (slab by slab). Each window's inputs are assembled here because stage
two takes two inputs at two resolutions:

* ``image`` ``(B, 1 + C, px, py, pz)``: the MR patch and the patch's
  stage-one probabilities at full resolution;
* ``stage_one_features`` ``(B, F, px/4, py/4, pz)``: the stage-one features
  at 1/4 resolution, cropped to the patch.

Every call gets exactly ``batch_size`` windows (the last batch is padded by
repeating its last window; the padded predictions are dropped); windows that
do not fill a batch wait for the next step. Each fold gets the maps of its
paired stage-one fold; the folds' softmax outputs are averaged and blended
by a :class:`~spine_rt.patching.RowMerger` (the merger: Gaussian or uniform
importance). After every batch the rows no later window can touch are
final: they go to ``on_rows`` (normalised, 0 where no window ran, with the
``covered`` mask) - in the fast schedule the fusion with stage one and the
argmax, so with ``bounded`` no ``(C, X, Y, Z)`` volume is held.

Batches are handed out as :class:`~spine_rt.pipelines.schedules.stage_one.FoldCalls`
(:meth:`StageTwo.batch_calls`): the caller runs the networks. With
``host_threads`` (numpy only) one worker builds the next batch's inputs and
another blends the previous batch's outputs meanwhile; the result is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, RowMerger, importance_map, windows_touching
from spine_rt.patching.array_backend import backend_for
from spine_rt.pipelines.schedules.batch_memory import fit_batch, window_bytes
from spine_rt.pipelines.schedules.maps import STAGE_TWO_FEATURE_STRIDE, StageOneMaps
from spine_rt.pipelines.schedules.stage_one import FoldCalls
from spine_rt.pipelines.stage_runners import StageRunners

#: receives ``(rows, probabilities (C, n, Y, Z), covered (n, Y, Z))`` for final rows of ``X``, in order
RowsConsumer = Callable[[slice, Any, Any], None]
#: rows of ``X`` finalised per block (bounds the full-resolution stage-one rows fused at a time)
FUSION_SLAB_ROWS = 64
#: rows per block when only labels are kept
LABEL_ROWS_PER_STEP = 16


def softmax(logits: Any, axis: int = 1, in_place: bool = False) -> Any:
    """Numerically stable softmax over ``axis`` (numpy; torch tensors use ``torch.softmax``)."""
    if not isinstance(logits, np.ndarray):
        return logits.softmax(dim=axis)
    values = logits if in_place and logits.dtype == np.float32 else logits.astype(np.float32)
    values -= values.max(axis=axis, keepdims=True)
    np.exp(values, out=values)
    values /= values.sum(axis=axis, keepdims=True)
    return values


def labels_from_probabilities(probabilities: Any) -> Any:
    """``(C, X, Y, Z)`` -> ``(X, Y, Z)`` argmax, uint8 (wider beyond 256 classes)."""
    dtype = "uint8" if probabilities.shape[0] <= 256 else ("uint16" if isinstance(probabilities, np.ndarray)
                                                          else "int32")
    return backend_for(probabilities).argmax(probabilities, 0, dtype)


class Fusion:
    """Receives stage two's final rows: stage one's probabilities where no window ran, then the argmax.

    Nothing is mixed inside a voxel: the label of a voxel is the argmax of
    exactly one stage. ``stage_one_rows(rows)`` gives stage one's ``(C, n, Y, Z)``
    at full resolution; on the host it is asked only for rows with uncovered
    voxels (on a device it always is: checking would wait for the device).

    Attributes:
        labels: ``(X, Y, Z)`` uint8 (wider beyond 256 classes), filled row block by row block.
        covered: voxels inside a window that ran (a device scalar on a device).
    """

    def __init__(self, backend: Any, shape: Sequence[int], stage_one_rows: Callable[[slice], Any]) -> None:
        self.backend, self.shape, self.stage_one_rows = backend, tuple(shape), stage_one_rows
        self.labels: Any = None
        self.covered: Any = 0
        self._on_host = isinstance(backend.dtype("float32"), np.dtype)

    def __call__(self, rows: slice, block: Any, covered: Any) -> None:
        if not self._on_host or not bool(covered.all()):
            self.backend.copy_where(block, self.stage_one_rows(rows), ~covered)
        if self.labels is None:
            classes = int(block.shape[0])
            dtype = "uint8" if classes <= 256 else ("uint16" if self._on_host else "int32")
            self.labels = self.backend.empty(self.shape, self.backend.dtype(dtype))
        self.labels[rows] = self.backend.argmax(block, 0, str(self.labels.dtype).removeprefix("torch."))
        self.covered = self.covered + self.backend.count(covered)


class StageTwo:
    """Stage two over one volume, windows handed over in steps (see the module docstring).

    Args:
        stage: the stage-two runners; inputs ``(image, stage_one_features)``, output logits
            (softmax applied here) or probabilities.
        fold_pairs: for each stage-two fold, the index into ``maps`` it uses.
        volume: ``(X, Y, Z)`` float32 (numpy, or a torch tensor on the runners' device).
        maps: stage one's maps over the volume, one per stage-one fold (``maps()`` may be a callable
            giving them, for maps that are still being written).
        grid: the windows.
        batch_size: windows per call.
        mode: ``"gaussian"`` or ``"constant"`` importance.
        on_rows: receives the final rows (see :data:`RowsConsumer`); called once per row, in order.
        bounded: keep only the rows still being written.
        host_threads: build and blend on worker threads (numpy only).
        rows_per_step: rows per ``on_rows`` block.
    """

    def __init__(self, stage: StageRunners, fold_pairs: Sequence[int], volume: Any,
                 maps: Sequence[StageOneMaps], grid: PatchGrid, batch_size: int, mode: str,
                 on_rows: RowsConsumer, bounded: bool, host_threads: bool = False,
                 rows_per_step: int = FUSION_SLAB_ROWS) -> None:
        self.stage, self.fold_pairs, self.volume, self.maps, self.grid = stage, tuple(fold_pairs), volume, maps, grid
        self.backend = backend_for(volume)
        self.batch_size = int(batch_size)
        self.patch = tuple(int(p) for p in grid.patch_size)
        self.starts = grid.window_starts()
        self.on_rows, self.rows_per_step = on_rows, rows_per_step
        self.host_threads = host_threads and isinstance(volume, np.ndarray)
        self.classes = (maps() if callable(maps) else maps)[0].classes
        self.merger = RowMerger(self.backend, volume.shape, self.classes,
                                self.backend.from_host(importance_map(self.patch, mode)), bounded)
        self.windows_run = 0
        self.calls = 0
        self._pending: list[int] = []

    def add(self, windows: Sequence[int], next_start: int, last: bool, stream: Any = None) -> None:
        """Queue ``windows``, run what :meth:`batch_calls` gives and finalise the rows that allows."""
        for calls in self.batch_calls(windows, next_start, last):
            calls.run(self.stage.runners, stream)

    def batch_calls(self, windows: Sequence[int], next_start: int, last: bool) -> Iterator[FoldCalls]:
        """Queue ``windows`` (C-order, ascending) and hand out the calls of every whole batch (and with ``last``
        the rest); each is blended once the caller has run it, then the rows before the first window still to
        come (``next_start``: where the windows not handed over yet begin) are finalised."""
        self._pending.extend(int(w) for w in windows)
        size = self.batch_size
        whole = len(self._pending) if last else len(self._pending) // size * size
        chunks = [self._pending[first: min(first + size, whole)] for first in range(0, whole, size)]
        self._pending = self._pending[whole:]
        end = self.merger.shape[0]
        later = [int(self.starts[chunk[0]][0]) for chunk in chunks[1:]]
        later.append(int(self.starts[self._pending[0]][0]) if self._pending else (end if last else next_start))
        work = list(zip(chunks, later))
        if self.host_threads and work:
            yield from self._overlapped(work)
        else:
            for item in work:
                calls = self._calls(self._build(item))
                yield calls
                self._blend(item, calls.returned)
        self._finish(later[-1])

    # ------------------------------------------------------------------ helpers
    def _calls(self, feeds: dict[int, dict[str, Any]]) -> FoldCalls:
        """Each stage-two fold gets the feed built from its paired stage-one fold's maps."""
        return FoldCalls([feeds[source] for source in self.fold_pairs])

    def _overlapped(self, work: list[tuple[list[int], int]]) -> Iterator[FoldCalls]:
        """The calls of ``work`` with the host work off the calling thread.

        One worker builds batch ``k + 1``'s feeds and another blends batch
        ``k - 1`` while the caller runs the networks on batch ``k`` (the
        backends and numpy release the GIL in their long loops). Each worker
        handles its batches in order, so the result is the sequential one; at
        most two batches' feeds and one batch's outputs wait at a time. An
        exception in a worker is raised here when its batch is collected. The
        first batch's feeds and the last batch's blend, which nothing else
        overlaps, are made by the caller with a worker's help.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="spine-rt-feed") as feeder, \
                ThreadPoolExecutor(1, thread_name_prefix="spine-rt-blend") as blender:
            first: dict[int, dict[str, Any]] | None = self._build(work[0], helper=feeder)  # nothing else runs yet
            next_feeds: Future[dict[int, dict[str, Any]]] | None = None
            blending: Future[None] | None = None
            for index, item in enumerate(work):
                calls = self._calls(first if next_feeds is None else next_feeds.result())
                first = None  # held by `calls` only, and cleared after its call like the others
                if index + 1 < len(work):
                    next_feeds = feeder.submit(self._build, work[index + 1])
                yield calls
                calls.feeds.clear()
                if blending is not None:
                    blending.result()  # blends stay in order, and at most one batch's outputs wait
                    blending = None
                if index + 1 < len(work):
                    blending = blender.submit(self._blend, item, calls.returned)
                else:  # the last batch: the caller would only wait, so it blends with the blender's help
                    self._blend(item, calls.returned, helper=blender)

    def _build(self, work: tuple[list[int], int], helper: Executor | None = None) -> dict[int, dict[str, Any]]:
        """The batch's feeds, one per stage-one fold in use (shared by the stage-two folds paired with it);
        ``helper``: an idle worker that fills half of the windows."""
        chunk, _ = work
        slots = chunk + [chunk[-1]] * (self.batch_size - len(chunk))
        maps = self.maps() if callable(self.maps) else self.maps
        image_name, feature_name = self.stage.input_names[:2]
        starts = [self.starts[k] for k in slots]
        return {source: _feed(self.volume, maps[source], starts, self.patch, image_name, feature_name, helper)
                for source in sorted(set(self.fold_pairs))}

    def _blend(self, work: tuple[list[int], int], returned: Sequence[dict[str, Any]],
               helper: Executor | None = None) -> None:
        """Softmax, fold mean and blending of one batch (in call order), then the rows it finished;
        ``helper``: an idle worker that takes the softmax of half of the windows."""
        chunk, stop = work
        mean = None
        name = self.stage.output_names[0]
        logits = name != "probabilities"
        for outputs in returned:
            prediction = self.backend.float32(outputs[name][:len(chunk)])  # padded slots are dropped
            if logits:  # a numpy output array is ours: softmax in place
                writeable = getattr(prediction, "flags", None) is not None and prediction.flags.writeable
                if helper is not None and writeable and len(prediction) > 1:
                    half = len(prediction) // 2  # both halves in place: `prediction` holds the result
                    other = helper.submit(softmax, prediction[:half], 1, True)
                    softmax(prediction[half:], in_place=True)
                    other.result()
                else:
                    prediction = softmax(prediction, in_place=writeable)
            if mean is None:
                mean = prediction
            elif isinstance(mean, np.ndarray):
                mean += prediction
            else:  # a device output may be the runner's buffer: not written to
                mean = mean + prediction
        if len(returned) > 1:
            mean = np.divide(mean, len(returned), out=mean) if isinstance(mean, np.ndarray) else mean / len(returned)
        if tuple(mean.shape[2:]) != self.patch or int(mean.shape[1]) != self.classes:
            raise InputError(f"stage two returned {tuple(mean.shape)}, expected (B, {self.classes}, "
                             f"{', '.join(map(str, self.patch))}) (the classes of stage one)")
        for slot, k in enumerate(chunk):
            row = int(self.starts[k][0])
            if row > self.merger.done:
                # windows come in C-order: every later window starts at `row` or below it, so the rows above are
                # final now. Finalising them before this window lands keeps the bounded merger at one patch height
                # when a batch spans two window rows (it held both rows' extents, patch + stride: issue 12)
                self._finish(row)
            self.merger.aggregate(self.starts[k], mean[slot])
        self.windows_run += len(chunk)
        self.calls += 1
        self._finish(stop)

    def _finish(self, stop: int) -> None:
        self.merger.finalize(stop, self.rows_per_step, self.on_rows)


def _feed(volume: Any, maps: StageOneMaps, starts: Sequence[np.ndarray], patch: tuple[int, ...], image_name: str,
          feature_name: str, helper: Executor | None = None) -> dict[str, Any]:
    """Stage two's inputs for windows at ``starts``: MR + full-resolution probabilities, 1/4-resolution features
    (numpy arrays or torch tensors, as ``volume``). With ``helper`` (an idle worker) the first half of the
    windows is filled there while the calling thread fills the rest (slots are independent: the same arrays)."""
    backend = backend_for(volume)
    float32 = backend.dtype("float32")
    quarter = tuple(int(p) // STAGE_TWO_FEATURE_STRIDE for p in patch[:2])
    image = backend.empty((len(starts), 1 + maps.classes, *patch), float32)
    features = backend.empty((len(starts), maps.feature_channels, *quarter, patch[2]), float32)
    first: dict[tuple[int, ...], int] = {}
    repeats: list[tuple[int, int]] = []  # a padded slot repeats the last window
    for slot, start in enumerate(starts):
        key = tuple(int(s) for s in start)
        if key in first:
            repeats.append((slot, first[key]))
        else:
            first[key] = slot

    def fill(slots: Sequence[int]) -> None:
        for slot in slots:
            start = starts[slot]
            image[slot, 0] = volume[_window(start, patch)]
            maps.patch_probabilities(start, patch, out=image[slot, 1:])
            features[slot] = maps.patch_features(start, patch)

    unique = list(first.values())
    if helper is not None and len(unique) > 1:
        half = len(unique) // 2
        filling = helper.submit(fill, unique[:half])
        fill(unique[half:])
        filling.result()
    else:
        fill(unique)
    for slot, source in repeats:
        image[slot] = image[source]
        features[slot] = features[source]
    return {image_name: image, feature_name: features}


def _window(start: np.ndarray, patch: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(int(s), int(s) + p) for s, p in zip(start, patch))


@dataclass(frozen=True)
class StageTwoRun:
    """What :func:`run_stage_two` gave.

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


def run_stage_two(volume: np.ndarray, maps: Sequence[StageOneMaps], stage: StageRunners, fold_pairs: Sequence[int],
                  batch_size: int, roi: np.ndarray | None = None, overlap: float | Sequence[float] = 0.5,
                  stride: Sequence[int | None] | None = None, mode: str = "gaussian",
                  alignment: Sequence[int] = (1, 1, 1), rows_consumer: RowsConsumer | None = None,
                  host_threads: bool = True) -> StageTwoRun:
    """Run stage two over ``volume`` where ``roi`` says (everywhere when ``roi`` is None), all windows at once.

    Args:
        volume: ``(X, Y, Z)`` float32 normalised MR at full resolution, at least one patch in size.
        maps / stage / fold_pairs / batch_size / mode / host_threads: as :class:`StageTwo`
            (``batch_size`` clamped to the windows that run, refused beyond the memory available).
        roi: ``(X, Y, Z)`` bool; windows that do not touch it do not run.
        overlap / stride / alignment: window spacing (see :meth:`PatchGrid.plan`).
        rows_consumer: bounded memory: the probabilities go there in blocks of rows instead of being returned.

    Raises:
        InputError: the volume is smaller than a patch, or a runner's output does not fit.
    """
    patch = tuple(int(p) for p in stage.patch_size)
    if any(n < p for n, p in zip(volume.shape, patch)):
        raise InputError(f"stage two: volume {volume.shape} is smaller than the patch {patch}; pad it first")
    grid = PatchGrid.plan(volume.shape, patch, overlap=overlap, stride=stride, alignment=tuple(alignment))
    run = windows_touching(grid, roi)
    covered = np.zeros(volume.shape, bool)

    def on_rows(rows: slice, block: np.ndarray, mask: np.ndarray) -> None:
        covered[rows] = mask
        if rows_consumer is not None:
            rows_consumer(rows, block, mask)

    # inputs (MR + probabilities, features at 1/16 of the voxels) and each fold's output, per window
    per_window = (window_bytes(1 + 2 * maps[0].classes * max(1, stage.fold_count), patch)
                  + window_bytes(maps[0].feature_channels, patch) // 16)
    batch = fit_batch(batch_size, len(run), per_window, "batch size")
    two = StageTwo(stage, fold_pairs, volume, maps, grid, batch, mode, on_rows, rows_consumer is not None,
                   host_threads)
    two.add(run, volume.shape[0], last=True)
    probabilities = None if rows_consumer is not None or len(run) == 0 else two.merger.values
    return StageTwoRun(probabilities, covered, two.windows_run, len(grid), two.calls)
