"""Stage two on the device, slab by slab, with blending, fusion and argmax of the rows it finishes.

The host schedule's stage two (:func:`~spine_rt.pipelines.stage_two_window.run_stage_two`)
on torch tensors: the windows of the same :class:`~spine_rt.patching.PatchGrid`
(starts aligned to the stage-one feature grid) that touch the ROI run in C
order, in batches of exactly ``batch_size`` (the last one padded by
repeating its last window), every fold on the feed of its paired stage-one
fold; softmax; fold mean. Each window's inputs:

* ``image`` ``(B, 1 + C, px, py, pz)``: the MR patch and the stage-one
  probabilities sampled at full resolution (stride ``f`` -> 1);
* ``stage_one_features`` ``(B, F, px/4, py/4, pz)``: the features sampled
  from stride ``4f`` to stride 4.

Blending: the numerator ``sum_i w_i * p_i`` ``(C, X, Y, Z)`` and the weight
sum ``W = sum_i w_i`` ``(X, Y, Z)`` (Gaussian importance, the same as the
host's normalised weights ``w_i / W`` up to float rounding). A row of ``X``
is *finished* once no window left can touch it; then, 64 rows at a time,
``p = numerator / W`` where ``W > 0`` (a window ran: "covered"), stage one's
fold mean at full resolution elsewhere, and the argmax (uint8) - all on the
device, in place in the numerator (which is the probability volume kept
when asked for).

Windows are added slab by slab (:meth:`DeviceStageTwo.add_rows`): a slab
adds the windows of the stage-two window rows it unlocks; windows that do
not fill a whole batch wait for the next slab, so the batches are the host's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import InputError
from spine_rt.patching import importance_map
from spine_rt.pipelines.device_in_plane_sampling import AxisInterpolation, sample_patch
from spine_rt.pipelines.device_stage_one import DeviceStageOne, as_float32, infer_on_current_stream
from spine_rt.pipelines.fusion import FUSION_SLAB_ROWS
from spine_rt.pipelines.slab_plan import SlabPlan
from spine_rt.pipelines.stage_one_maps import STAGE_TWO_FEATURE_STRIDE
from spine_rt.pipelines.stage_one_runner import STAGE_ONE_FEATURE_STRIDE
from spine_rt.pipelines.stage_runners import StageRunners

torch = require("torch", "the device fast schedule")


@dataclass(frozen=True)
class Interpolations:
    """The interpolation tables of one volume shape (see :class:`AxisInterpolation`).

    Attributes:
        probabilities: ``(along X, along Y)`` from stride ``f`` to the full-resolution grid.
        features: ``(along X, along Y)`` from stride ``4f`` to the stride-4 grid.
    """

    probabilities: tuple[AxisInterpolation, AxisInterpolation]
    features: tuple[AxisInterpolation, AxisInterpolation]

    @classmethod
    def build(cls, shape: tuple[int, int, int], factor: int, device: Any) -> Interpolations:
        stride = STAGE_TWO_FEATURE_STRIDE
        feature_stride = factor * STAGE_ONE_FEATURE_STRIDE
        return cls(
            tuple(AxisInterpolation.build(n // factor, factor, n, 1, device) for n in shape[:2]),  # type: ignore
            tuple(AxisInterpolation.build(n // feature_stride, feature_stride, n // stride, stride, device)
                  for n in shape[:2]),  # type: ignore
        )


@dataclass
class DeviceStageTwo:
    """Stage two, blending, fusion and argmax on the device (see the module docstring).

    Args:
        stage: the stage-two runners (one per fold).
        fold_pairs: for each stage-two fold, the index of its stage-one fold.
        plan: the slab plan.
        volume: ``(X, Y, Z)`` float32 device tensor.
        stage_one: the :class:`DeviceStageOne` whose maps are read.
        interpolations: the tables for this volume shape.
        keep_probabilities: keep the fused ``(C, X, Y, Z)`` volume (else only labels).

    Attributes:
        labels: ``(X, Y, Z)`` uint8 (int32 beyond 256 classes) argmax of the fused probabilities (rows ``< finished``).
        numerator: ``(C, X, Y, Z)``, the fused probabilities on finished rows.
        covered_voxels: device int64 scalar, voxels inside a window that ran (finished rows).
        windows_run / calls: windows that ran / calls per fold so far.
    """

    stage: StageRunners
    fold_pairs: tuple[int, ...]
    plan: SlabPlan
    volume: Any
    stage_one: DeviceStageOne
    interpolations: Interpolations
    keep_probabilities: bool
    labels: Any = None
    numerator: Any = None
    covered_voxels: Any = None
    windows_run: int = 0
    calls: int = 0
    finished: int = 0
    _pending: list[int] = field(default_factory=list)
    _next_row: int = 0

    def __post_init__(self) -> None:
        device = self.volume.device
        self._device = device
        grid = self.plan.stage_two_grid
        self._patch = tuple(int(p) for p in grid.patch_size)
        self._starts = grid.window_starts()
        self._importance = torch.from_numpy(importance_map(self._patch, "gaussian")).to(device)
        self._weight_sum = torch.zeros(self.plan.shape, dtype=torch.float32, device=device)
        self.covered_voxels = torch.zeros((), dtype=torch.int64, device=device)

    # ------------------------------------------------------------------ one slab
    def add_rows(self, rows: range, windows: np.ndarray, last: bool) -> None:
        """Queue ``windows`` (C-order indices: the ROI's choice among the stage-two window rows ``rows``
        that this slab unlocks), run every whole batch, and finish the rows no later window can touch.

        Call on lane ``two`` once stage one's rows for ``rows`` are final; ``last``: no rows follow
        (the last batch is padded).
        """
        if len(rows):
            self._next_row = rows.stop
        self._pending.extend(int(w) for w in windows)
        size = self.plan.stage_two_batch_size
        while len(self._pending) >= size or (last and self._pending):
            chunk, self._pending = self._pending[:size], self._pending[size:]
            self._run_batch(chunk)
        self._finish_until(self._stop_of_finished_rows(last))

    def _stop_of_finished_rows(self, last: bool) -> int:
        """Rows below the first window still to come (pending or in rows not yet unlocked) are finished."""
        grid = self.plan.stage_two_grid
        if last:
            return self.plan.shape[0]
        if self._pending:
            return int(self._starts[self._pending[0]][0])
        if self._next_row < len(grid.axis_starts[0]):
            return int(grid.axis_starts[0][self._next_row])
        return self.plan.shape[0]

    # ------------------------------------------------------------------ helpers
    def _run_batch(self, chunk: list[int]) -> None:
        size = self.plan.stage_two_batch_size
        slots = chunk + [chunk[-1]] * (size - len(chunk))
        stage = self.stage
        image_name, feature_name = stage.input_names[:2]
        output_name = stage.output_names[0]
        feeds: dict[int, dict[str, Any]] = {}
        mean = None
        for fold, runner in enumerate(stage.runners):
            source = self.fold_pairs[fold]
            if source not in feeds:
                feeds[source] = self._feed(source, slots, image_name, feature_name)
            prediction = as_float32(infer_on_current_stream(runner, feeds[source])[output_name], self._device)
            if output_name != "probabilities":
                prediction = torch.softmax(prediction, dim=1)
            mean = prediction if mean is None else mean + prediction
        if stage.fold_count > 1:
            mean = mean / stage.fold_count
        if tuple(mean.shape[2:]) != self._patch:
            raise InputError(f"stage two returned {tuple(mean.shape)}, expected (B, C, "
                             f"{', '.join(map(str, self._patch))})")
        if self.numerator is None:
            classes = self.stage_one.fold_mean.shape[1]
            if mean.shape[1] != classes:
                raise InputError(f"stage two returned {mean.shape[1]} classes, stage one {classes}")
            self.numerator = torch.zeros((classes, *self.plan.shape), dtype=torch.float32, device=self._device)
        for slot, window in enumerate(chunk):  # padded slots are dropped
            box = self._box(window)
            self.numerator[(slice(None), *box)].addcmul_(mean[slot], self._importance)
            self._weight_sum[box] += self._importance
        self.windows_run += len(chunk)
        self.calls += 1

    def _feed(self, source: int, slots: list[int], image_name: str, feature_name: str) -> dict[str, Any]:
        maps_p = self.stage_one.probabilities[source]
        maps_f = self.stage_one.features[source]
        px, py, pz = self._patch
        stride = STAGE_TWO_FEATURE_STRIDE
        image = torch.empty((len(slots), 1 + maps_p.shape[1], px, py, pz), dtype=torch.float32, device=self._device)
        features = torch.empty((len(slots), maps_f.shape[1], px // stride, py // stride, pz), dtype=torch.float32,
                               device=self._device)
        done: dict[int, int] = {}
        for slot, window in enumerate(slots):
            if window in done:  # a padded slot repeats the last window
                image[slot] = image[done[window]]
                features[slot] = features[done[window]]
                continue
            done[window] = slot
            x, y, z = (int(s) for s in self._starts[window])
            slices = slice(z, z + pz)
            image[slot, 0] = self.volume[x: x + px, y: y + py, slices]
            along_x, along_y = self.interpolations.probabilities
            sampled = sample_patch(maps_p, along_x, along_y, (x, y), (px, py), slices)  # (pz, C, px, py)
            image[slot, 1:] = sampled.permute(1, 2, 3, 0)
            along_x, along_y = self.interpolations.features
            sampled = sample_patch(maps_f, along_x, along_y, (x // stride, y // stride), (px // stride, py // stride),
                                   slices)
            features[slot] = sampled.permute(1, 2, 3, 0)
        return {image_name: image, feature_name: features}

    def _box(self, window: int) -> tuple[slice, slice, slice]:
        return tuple(slice(int(s), int(s) + p) for s, p in zip(self._starts[window], self._patch))  # type: ignore

    def _finish_until(self, stop: int) -> None:
        """Fuse and argmax rows ``[finished, stop)``, ``FUSION_SLAB_ROWS`` at a time."""
        fold_mean = self.stage_one.fold_mean
        classes = fold_mean.shape[1]
        size_y = self.plan.shape[1]
        along_x, along_y = self.interpolations.probabilities
        for first in range(self.finished, stop, FUSION_SLAB_ROWS):
            rows = slice(first, min(first + FUSION_SLAB_ROWS, stop))
            count = rows.stop - rows.start
            stage_one = sample_patch(fold_mean, along_x, along_y, (rows.start, 0), (count, size_y),
                                     slice(None)).permute(1, 2, 3, 0)  # (C, n, Y, Z)
            weight_sum = self._weight_sum[rows]
            covered = weight_sum > 0
            self.covered_voxels += covered.sum()
            if self.numerator is None:
                fused = stage_one
                if self.keep_probabilities:
                    self.numerator = torch.zeros((classes, *self.plan.shape), dtype=torch.float32,
                                                 device=self._device)
                    self.numerator[:, rows] = fused
            else:
                block = self.numerator[:, rows]
                stage_two = block / torch.where(covered, weight_sum, torch.ones_like(weight_sum))
                fused = torch.where(covered, stage_two, stage_one)
                block.copy_(fused)
            if self.labels is None:  # uint8 as on the host; wider for more than 256 classes
                dtype = torch.uint8 if classes <= 256 else torch.int32
                self.labels = torch.empty(self.plan.shape, dtype=dtype, device=self._device)
            self.labels[rows] = fused.argmax(dim=0).to(self.labels.dtype)
        self.finished = max(self.finished, stop)
