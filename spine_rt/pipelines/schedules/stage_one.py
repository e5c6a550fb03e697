"""Stage one over a volume: every sagittal slice once, batched, every fold, on numpy or a torch device.

Each slice ``z`` becomes a 3-channel picture ``(z-1, z, z+1)`` (edge slices
repeated) at stage one's resolution. The slices are the images of a 2D
patch grid (:class:`~spine_rt.patching.PatchGrid`) with the stage's static
patch size: a slice that fits one patch is centred in it and padded with
background (one window per slice); a larger slice is tiled with overlapping
windows. Items are ``(window, slice)`` in window-major order; every call
gets exactly ``batch_size`` items (the last batch repeats its last item, the
padded predictions are dropped) and runs every fold, so a slice is read once
and each fold's runner sees it once. The windows are blended with Gaussian
weights by :class:`~spine_rt.patching.Stitcher` (probabilities on stage
one's grid, features on their own 1/4 grid).

:class:`StageOne` runs any range of batches at a time, so the fast schedule
can run them slab by slab (rows of the maps become final as the window rows
above them are done) and read the final rows while stage one goes on. With
``host_threads`` (numpy only) a worker blends batch ``k``'s outputs while the
caller runs the networks on batch ``k + 1``; the result is the same.
Tensors: the input ``(Z, X/f, Y/f)`` (zero-padded where a slice is smaller
than the window), per fold probabilities ``(Z, C, X/f, Y/f)`` and features
``(Z, F, X/(4f), Y/(4f))``, the fold mean of any rows ``(Z, C, n, Y/f)`` on request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching import PatchGrid, Stitcher, importance_profiles
from spine_rt.patching.array_backend import ArrayBackend, backend_for
from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.pipelines.schedules.sampling import downsample_in_plane
from spine_rt.pipelines.stage_runners import StageRunners

#: stage one's features lie at 1/4 of its input resolution (decoder stride)
STAGE_ONE_FEATURE_STRIDE = 4
#: overlap of stage-one windows when a slice is larger than one patch
STAGE_ONE_OVERLAP = 0.25
#: dtypes the stage-one maps can be held in: float16 halves the largest volume-sized buffers of a call
#: (benchmarks/RESULTS.md, "float16 stage-one maps"); stage two reads them back as float32
MAPS_DTYPES: tuple[str, ...] = ("float32", "float16")
#: the default: float16 when the networks run in fp16 or bf16, float32 (exact) when they run in fp32
AUTO_MAPS_DTYPE = "auto"


def choose_maps_dtype(requested: str, precision: str | None) -> str:
    """``"float32"`` or ``"float16"`` for ``requested`` (``"auto"`` or one of :data:`MAPS_DTYPES`).

    ``"auto"`` keeps an fp32 pipeline exact (float16 maps change a few voxels per scan where two
    classes are within float16's rounding of a tie: 4e-6 of the voxels measured on real scans) and
    halves the maps where the networks already compute in fp16 or bf16.
    """
    if requested == AUTO_MAPS_DTYPE:
        return "float16" if precision in ("fp16", "bf16") else "float32"
    if requested not in MAPS_DTYPES:
        raise InputError(f"unknown maps_dtype {requested!r}; valid: auto, {', '.join(MAPS_DTYPES)}")
    return requested


@dataclass
class FoldCalls:
    """One batch for every fold of a stage: the caller runs ``runners[k].infer(feeds[k], stream=...)`` and appends
    what each returned to ``returned`` (in fold order) before it asks for the next batch.

    The stage objects hand batches out this way (generators of ``FoldCalls``) so that the schedule makes
    the runner calls itself: the slab loop reads as the data flow, and the call is few frames deep.
    """

    feeds: list[dict[str, Any]]
    returned: list[dict[str, Any]] = field(default_factory=list)

    def run(self, runners: Sequence[Any], stream: Any = None) -> None:
        """Call every fold's runner (``stream`` is passed only when not ``None``: host runners take none)."""
        for runner, feed in zip(runners, self.feeds):
            self.returned.append(runner.infer(feed) if stream is None else runner.infer(feed, stream=stream))


def slice_triplets(volume: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` -> ``(Z, 3, X, Y)`` float32: slice ``z`` with its neighbours ``z-1, z, z+1`` as channels."""
    return np.ascontiguousarray(np.moveaxis(volume, 2, 0).astype(np.float32, copy=False)[triplet_index(volume.shape[2])])


def triplet_index(slices: int) -> np.ndarray:
    """``(Z, 3)``: slice ``z`` and its neighbours, the first and last slices repeating themselves."""
    index = np.arange(slices)
    return np.stack([np.clip(index - 1, 0, slices - 1), index, np.clip(index + 1, 0, slices - 1)], axis=1)


class StageOne:
    """Stage one over one volume, any range of batches at a time (see the module docstring).

    Args:
        stage: the stage-one runners (one per fold).
        volume: ``(X, Y, Z)`` float32, full resolution (numpy, or a torch tensor on the runners' device).
        factor: ``f``: stage one sees ``f x f`` block means.
        grid: stage one's windows on the slice ``(X/f, Y/f)``.
        batch_size: items per call.
        maps_dtype: ``"float32"`` or ``"float16"``: the dtype the stitched maps (and the fold mean) are
            held in; the runners' outputs are blended in it (see :data:`MAPS_DTYPES`).
        host_threads: blend each batch on a worker thread while the next batch runs (numpy only).
    """

    def __init__(self, stage: StageRunners, volume: Any, factor: int, grid: PatchGrid, batch_size: int,
                 maps_dtype: str = "float32", host_threads: bool = False) -> None:
        half = grid.image_shape
        if half[0] % STAGE_ONE_FEATURE_STRIDE or half[1] % STAGE_ONE_FEATURE_STRIDE:
            raise InputError(f"stage one needs in-plane sizes that are multiples of {STAGE_ONE_FEATURE_STRIDE}, "
                             f"got {tuple(half)}")
        self.stage, self.volume, self.factor, self.grid = stage, volume, factor, grid
        self.batch_size = int(batch_size)
        if maps_dtype not in MAPS_DTYPES:
            raise InputError(f"unknown stage-one maps dtype {maps_dtype!r}; valid: {', '.join(MAPS_DTYPES)}")
        self.maps_dtype = maps_dtype
        self.backend: ArrayBackend = backend_for(volume)
        self.host_threads = bool(host_threads) and isinstance(volume, np.ndarray)
        self.slices = int(volume.shape[2])
        self.items = len(grid) * self.slices
        self.calls = 0
        self._pad = [before for before, _ in grid.padding]
        padded = [size + before + after for size, (before, after) in zip(half, grid.padding)]
        self._input = self.backend.zeros((self.slices, *padded), self.backend.dtype("float32"))
        self._downsampled = 0
        self._triplets = self.backend.from_host(triplet_index(self.slices))
        self._starts = grid.window_starts()
        self._stitchers: list[tuple[Stitcher, Stitcher]] = []

    def batches(self) -> int:
        """Calls needed for every item."""
        return -(-self.items // self.batch_size)

    def rows_read(self, batch: int) -> int:
        """Stop of the slice rows (stage one's resolution) that batches ``0 .. batch`` read."""
        window = min((batch + 1) * self.batch_size, self.items) - 1
        start = self._starts[window // self.slices][0]
        return int(min(start + self.grid.patch_size[0], self.grid.image_shape[0]))

    def batch_calls(self, batches: Sequence[int]) -> Iterator[FoldCalls]:
        """The calls of ``batches`` (in order): each :class:`FoldCalls` is stitched once the caller has run it.

        Every batch is stitched when the generator is exhausted. With ``host_threads`` batch ``k`` is
        stitched on a worker thread while the caller runs batch ``k + 1`` (the stitchers are written by
        that one worker, in batch order, and read only after the generator ends; the networks and
        numpy release the GIL in their long loops). An exception in the worker is raised here.
        """
        if not self.host_threads:
            for batch in batches:
                calls = self._calls(batch)
                yield calls
                self._stitch(batch, calls.returned)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="spine-rt-stitch") as worker:
            stitching: Future[None] | None = None
            for index, batch in enumerate(batches):
                calls = self._calls(batch)
                yield calls
                if stitching is not None:
                    stitching.result()  # at most one batch's outputs wait
                    stitching = None
                if index + 1 < len(batches):
                    stitching = worker.submit(self._stitch, batch, calls.returned)
                else:  # the last batch: the caller would only wait, so it stitches with the worker's help
                    self._stitch(batch, calls.returned, helper=worker)

    def _calls(self, batch: int) -> FoldCalls:
        """``batch``'s feed (the rows it reads downsampled first), the same for every fold.

        On the host the downsampled input ``(Z, X/f, Y/f)`` is released once the last batch's feed is
        copied out of it (stage two runs without it; on a device a queued copy may still read it)."""
        self._downsample_until(self.rows_read(batch))
        calls = FoldCalls([self._feed(batch)] * len(self.stage.runners))
        if batch == self.batches() - 1 and isinstance(self._input, np.ndarray):
            self._input = None
        return calls

    def run(self, batches: Sequence[int], stream: Any = None) -> None:
        """Run ``batches`` (in order, each after the ones before it)."""
        for calls in self.batch_calls(batches):
            calls.run(self.stage.runners, stream)

    def fold_mean(self, rows: slice) -> Any:
        """``(Z, C, n, Y/f)``: the folds' mean probabilities on final rows ``rows`` (stage one's resolution).

        Computed when asked (fold 0's own rows, a view, with one fold): a ``(Z, C, X/f, Y/f)`` mean beside
        the folds' maps would cost ``4 C / f^2`` bytes per voxel (20 with SSHSNet's 20 classes; issue 12).
        """
        maps = [probabilities for probabilities, _ in self.outputs()]
        if len(maps) == 1:
            return maps[0][:, :, rows]
        total = maps[0][:, :, rows] + maps[1][:, :, rows]
        for other in maps[2:]:
            total += other[:, :, rows]
        total /= len(maps)
        return total

    def foreground(self, rows: slice) -> Any:
        """``(Z, n, Y/f)`` bool: the fold mean's argmax is not background (ties go to background) on ``rows``."""
        mean = self.fold_mean(rows)
        return self.backend.amax(mean[:, 1:], 1) > mean[:, 0]

    def outputs(self) -> list[tuple[Any, Any]]:
        """Per fold, the stitched ``(probabilities, features)``: ``(Z, C, X/f, Y/f)``, ``(Z, F, X/4f, Y/4f)``."""
        return [(probabilities.finish(), features.finish()) for probabilities, features in self._stitchers]

    def maps(self, resolution_factor: int) -> tuple[StageOneMaps, ...]:
        """Per fold, the maps as :class:`StageOneMaps` ``(C, X/f, Y/f, Z)`` views."""
        stride = resolution_factor * STAGE_ONE_FEATURE_STRIDE
        return tuple(StageOneMaps(self.backend.slices_last(p), self.backend.slices_last(f), resolution_factor, stride)
                     for p, f in self.outputs())

    def _downsample_until(self, stop: int) -> None:
        if stop <= self._downsampled:
            return
        rows = slice(self._downsampled, stop)
        part = self.volume[self.factor * rows.start: self.factor * rows.stop]
        block = downsample_in_plane(part, self.factor)  # (n, Y/f, Z)
        pad_x, pad_y = self._pad
        target = self._input[:, pad_x + rows.start: pad_x + rows.stop, pad_y: pad_y + block.shape[1]]
        target[...] = _slices_first(block)
        self._downsampled = stop

    def _slots(self, batch: int) -> tuple[list[int], int]:
        """The items of ``batch``'s ``batch_size`` slots (the last repeated) and how many are real."""
        first = batch * self.batch_size
        real = min(self.batch_size, self.items - first)
        return [first + min(slot, real - 1) for slot in range(self.batch_size)], real

    def _feed(self, batch: int) -> dict[str, Any]:
        """``{input: (batch_size, 3, px, py)}``: each item's slice triplet in its window."""
        slots, _ = self._slots(batch)
        patch = self.grid.patch_size
        inputs = self.backend.empty((self.batch_size, 3, *patch), self.backend.dtype("float32"))
        for window, slot, count in _runs(slots, self.slices):
            x, y = (int(s) + p for s, p in zip(self._starts[window], self._pad))
            z = slots[slot] % self.slices
            region = self._input[:, x: x + patch[0], y: y + patch[1]]
            inputs[slot: slot + count] = region[self._triplets[z: z + count]]
        return {self.stage.input_names[0]: inputs}

    def _stitch(self, batch: int, returned: Sequence[dict[str, Any]], helper: Executor | None = None) -> None:
        """Blend every fold's outputs of ``batch`` into its stitchers (padded slots dropped); ``helper``: an idle
        worker that fills the probability stitchers while this thread fills the feature stitchers."""
        slots, real = self._slots(batch)
        probability_name, feature_name = self.stage.output_names[:2]

        def add(stitcher: Stitcher, values: Any) -> None:
            for slot in range(real):
                item = slots[slot]
                stitcher.add(item // self.slices, item % self.slices, values[slot])

        for fold, outputs in enumerate(returned):
            probabilities = self.backend.float32(outputs[probability_name])
            features = self.backend.float32(outputs[feature_name])
            if fold >= len(self._stitchers):
                self._stitchers.append(self._new_stitchers(probabilities, features))
            probability_stitcher, feature_stitcher = self._stitchers[fold]
            if helper is None:
                add(probability_stitcher, probabilities)
                add(feature_stitcher, features)
                continue
            other = helper.submit(add, probability_stitcher, probabilities)  # separate stitchers: no shared writes
            add(feature_stitcher, features)
            other.result()
        self.calls += 1

    def _new_stitchers(self, probabilities: Any, features: Any) -> tuple[Stitcher, Stitcher]:
        patch = tuple(self.grid.patch_size)
        quarter = tuple(p // STAGE_ONE_FEATURE_STRIDE for p in patch)
        if tuple(probabilities.shape[2:]) != patch or tuple(features.shape[2:]) != quarter:
            raise InputError(f"stage one returned {tuple(probabilities.shape)} and {tuple(features.shape)}, expected "
                             f"(B, C, {', '.join(map(str, patch))}) and (B, F, {', '.join(map(str, quarter))})")
        fraction = Fraction(1, STAGE_ONE_FEATURE_STRIDE)
        stitchers = []
        for grid, values in ((self.grid, probabilities), (self.grid.scaled((fraction, fraction), "features"), features)):
            channels = int(values.shape[1])
            stitchers.append(Stitcher(self.backend, grid, np.arange(len(grid)),
                                      importance_profiles(grid.patch_size, "gaussian"), self.slices, channels,
                                      self.backend.dtype(self.maps_dtype),
                                      self.backend.from_host(np.zeros(channels, self.maps_dtype))))
        return stitchers[0], stitchers[1]


def _slices_first(block: Any) -> Any:
    """``(n, Y, Z)`` -> ``(Z, n, Y)`` view."""
    return block.permute(2, 0, 1) if hasattr(block, "permute") else np.moveaxis(block, 2, 0)


def _runs(slots: list[int], slices: int) -> list[tuple[int, int, int]]:
    """``(window, first slot, count)`` for consecutive slots of one window with consecutive slices."""
    runs: list[tuple[int, int, int]] = []
    for slot, item in enumerate(slots):
        window = item // slices
        if runs and runs[-1][0] == window and slots[slot - 1] + 1 == item:
            runs[-1] = (window, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((window, slot, 1))
    return runs


@dataclass(frozen=True)
class StageOneRun:
    """What running stage one over a whole volume gave.

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


def run_stage_one(volume: np.ndarray, stage: StageRunners, batch_size: int, resolution_factor: int,
                  overlap: float = STAGE_ONE_OVERLAP) -> StageOneRun:
    """Run stage one on every slice of ``volume`` (already at stage one's resolution), all batches at once.

    Args:
        volume: ``(X, Y, Z)`` float32 at stage one's in-plane spacing; ``X`` and ``Y`` multiples of 4.
        stage: the stage-one runners (one per fold), graph input ``slices`` ``(N, 3, px, py)``,
            outputs probabilities ``(N, C, px, py)`` and features ``(N, F, px/4, py/4)``.
        batch_size: windows per call (fixed; the last batch is padded).
        resolution_factor: ``f``, full-resolution voxels per stage-one voxel (the maps' stride).
        overlap: overlap of windows when a slice is larger than one patch.

    Raises:
        InputError: in-plane sizes not multiples of 4, or runner outputs of the wrong shape.
    """
    grid = PatchGrid.plan(volume.shape[:2], tuple(stage.patch_size), overlap=overlap,
                          alignment=STAGE_ONE_FEATURE_STRIDE)
    runner = StageOne(stage, volume, 1, grid, batch_size)
    runner.run(range(runner.batches()))
    maps = tuple(StageOneMaps(np.ascontiguousarray(m.probabilities), np.ascontiguousarray(m.features),
                              m.probability_stride, m.feature_stride) for m in runner.maps(resolution_factor))
    return StageOneRun(maps, runner.slices, len(grid), runner.calls, batch_size)
