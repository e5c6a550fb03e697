"""Stage one on the device, slab by slab: the same windows, batches and blending as the host schedule.

The host schedule (:func:`~spine_rt.pipelines.stage_one_runner.run_stage_one`)
runs stage one as a 2D sliding window whose images are the slices: items are
``(window, slice)`` in window-major order, every call gets ``batch_size``
items (the last batch repeats its last item), every fold sees each batch,
and the windows are blended with normalised Gaussian weights (per-axis
profiles, :func:`~spine_rt.patching.window_weights.normalised_axis_profiles`),
probabilities on stage one's grid and features on their own 1/4 grid.

:class:`DeviceStageOne` does the same on torch tensors, with the same batch
composition, but runs the batches of one slab at a time
(:class:`~spine_rt.pipelines.slab_plan.SlabPlan`), so the maps of the rows a
slab finalises can be read by stage two while stage one goes on below them.

Tensors: the full-resolution volume ``(X, Y, Z)``; the half-resolution input
``(Z, X/f, Y/f)`` (zero-padded where a slice is smaller than the window);
per fold, probabilities ``(Z, C, X/f, Y/f)`` and features ``(Z, F, X/(4f), Y/(4f))``;
the fold mean ``(Z, C, X/f, Y/f)`` and its foreground ``(Z, X/f, Y/f)`` bool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import InputError
from spine_rt.patching import importance_profiles
from spine_rt.patching.window_weights import normalised_axis_profiles
from spine_rt.pipelines.device_in_plane_sampling import downsample_rows
from spine_rt.pipelines.slab_plan import SlabPlan
from spine_rt.pipelines.stage_one_runner import STAGE_ONE_FEATURE_STRIDE
from spine_rt.pipelines.stage_runners import StageRunners

torch = require("torch", "the device fast schedule")


def infer_on_current_stream(runner: Any, feed: dict[str, Any]) -> dict[str, Any]:
    """``runner.infer(feed)`` ordered on torch's current stream.

    A TensorRT runner is given the current stream (``stream=``), where it runs
    with its own execution context; a torch runner runs on the current stream anyway.
    """
    if getattr(runner, "backend", "") == "tensorrt":
        first = next(iter(feed.values()))
        if first.device.type == "cuda":
            return runner.infer(feed, stream=torch.cuda.current_stream(first.device))
    return runner.infer(feed)


def as_float32(value: Any, device: Any) -> Any:
    """A runner's output as a float32 tensor on ``device`` (fp16 outputs are widened, as on the host)."""
    tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    return tensor.to(device=device, dtype=torch.float32)


@dataclass
class _WindowWeights:
    """Normalised blending weights of every window of one output grid, on the device."""

    weights: list[Any]  # per window (C order): (hx, hy) float32
    boxes: list[tuple[slice, slice, slice, slice]]  # per window: (target x, target y, source x, source y)

    @classmethod
    def build(cls, grid: Any, device: Any) -> _WindowWeights:
        profiles = importance_profiles(grid.patch_size, "gaussian")
        per_axis = [normalised_axis_profiles(size, patch, starts, profile)
                    for size, patch, starts, profile in zip(grid.image_shape, grid.patch_size, grid.axis_starts,
                                                            profiles)]
        starts, lo, hi = grid.window_boxes()
        weights, boxes = [], []
        for window, index in enumerate(grid.window_indices()):
            ix, iy = (int(i) for i in index)
            # the host's float32 product of the per-axis profiles
            weights.append(torch.from_numpy(per_axis[0][ix][:, None] * per_axis[1][iy][None, :]).to(device))
            (x0, y0), (x1, y1), (sx, sy) = lo[window], hi[window], starts[window]
            boxes.append((slice(int(x0), int(x1)), slice(int(y0), int(y1)),
                          slice(int(x0 - sx), int(x1 - sx)), slice(int(y0 - sy), int(y1 - sy))))
        return cls(weights, boxes)


@dataclass
class DeviceStageOne:
    """Stage one over one volume on the device, run slab by slab (see the module docstring).

    Args:
        stage: the stage-one runners (one per fold).
        plan: the slab plan of the volume.
        volume: ``(X, Y, Z)`` float32 device tensor (filled by uploads as slabs need it).
        lanes: the :class:`~spine_rt.pipelines.stream_lanes.StreamLanes` (stage one runs on lane ``one``).

    Attributes set while running:
        probabilities / features: per fold, the maps (allocated on the first call's outputs).
        fold_mean: ``(Z, C, X/f, Y/f)``, final on the rows of finished slabs.
        calls: predictor calls so far.
    """

    stage: StageRunners
    plan: SlabPlan
    volume: Any
    lanes: Any
    probabilities: list[Any] = field(default_factory=list)
    features: list[Any] = field(default_factory=list)
    fold_mean: Any = None
    calls: int = 0

    def __post_init__(self) -> None:
        grid = self.plan.stage_one_grid
        half_x, half_y = self.plan.half_shape
        if half_x % STAGE_ONE_FEATURE_STRIDE or half_y % STAGE_ONE_FEATURE_STRIDE:
            raise InputError(f"stage one needs in-plane sizes that are multiples of {STAGE_ONE_FEATURE_STRIDE}, "
                             f"got {(half_x, half_y)}")
        device = self.volume.device
        self._device = device
        self._pad = [before for before, _ in grid.padding]
        padded = [size + before + after for size, (before, after) in zip(grid.image_shape, grid.padding)]
        self._input = torch.zeros((self.plan.slices, *padded), dtype=torch.float32, device=device)
        self._downsampled = 0  # half rows [0, n) of the input are filled
        quarter = Fraction(1, STAGE_ONE_FEATURE_STRIDE)
        self._weights = {"probabilities": _WindowWeights.build(grid, device),
                         "features": _WindowWeights.build(grid.scaled((quarter, quarter), "features"), device)}
        size_z = self.plan.slices
        index = np.arange(size_z)
        triplets = np.stack([np.clip(index - 1, 0, size_z - 1), index, np.clip(index + 1, 0, size_z - 1)], axis=1)
        self._triplets = torch.from_numpy(triplets).to(device)  # (Z, 3): slice z and its neighbours
        self._starts = grid.window_starts()
        self._final = 0  # half rows [0, n) of fold_mean are final

    # ------------------------------------------------------------------ one slab
    def run_slab(self, slab: int) -> tuple[int, int]:
        """Queue the stage-one batches of ``slab`` and the fold mean of the rows it finalises.

        Call on lane ``one``. Returns ``(start, stop)``, the half-resolution rows that became final.
        """
        self._downsample_until(self.plan.stage_one_rows_read(slab))
        for batch in self.plan.stage_one_batches[slab]:
            self._run_batch(batch)
        start, stop = self._final, self.plan.stage_one_final[slab]
        if stop > start:
            self._average_folds(slice(start, stop))
        self._final = stop
        return start, stop

    def foreground_rows(self, rows: slice) -> Any:
        """``(Z, n, Y/f)`` bool: the fold mean's argmax is not background on final rows ``rows``."""
        return self.fold_mean[:, :, rows].argmax(dim=1) != 0

    # ------------------------------------------------------------------ helpers
    def _downsample_until(self, stop: int) -> None:
        if stop <= self._downsampled:
            return
        rows = slice(self._downsampled, stop)
        block = downsample_rows(self.volume, self.plan.factor, rows)
        pad_x, pad_y = self._pad
        self._input[:, pad_x + rows.start: pad_x + rows.stop, pad_y: pad_y + block.shape[2]] = block
        self._downsampled = stop

    def _run_batch(self, batch: int) -> None:
        plan = self.plan
        items = plan.stage_one_batch_items(batch)
        slots = list(items) + [items[-1]] * (plan.stage_one_batch_size - len(items))
        groups = _window_groups([plan.stage_one_item(i) for i in slots])
        patch = plan.stage_one_grid.patch_size
        inputs = torch.empty((len(slots), 3, *patch), dtype=torch.float32, device=self._device)
        for window, first_slot, slices in groups:
            x, y = (int(s) + p for s, p in zip(self._starts[window], self._pad))
            region = self._input[:, x: x + patch[0], y: y + patch[1]]
            inputs[first_slot: first_slot + len(slices)] = region[self._triplets[slices[0]: slices[-1] + 1]]
        stage = self.stage
        probability_name, feature_name = stage.output_names[:2]
        feed = {stage.input_names[0]: inputs}
        for fold, runner in enumerate(stage.runners):
            returned = infer_on_current_stream(runner, feed)
            probabilities = as_float32(returned[probability_name], self._device)
            features = as_float32(returned[feature_name], self._device)
            if fold >= len(self.probabilities):
                self._allocate(probabilities, features)
            self._blend(self.probabilities[fold], probabilities, self._weights["probabilities"], groups, len(items))
            self._blend(self.features[fold], features, self._weights["features"], groups, len(items))
        self.calls += 1

    def _allocate(self, probabilities: Any, features: Any) -> None:
        size_z = self.plan.slices
        half = self.plan.stage_one_grid.image_shape
        quarter = tuple(s // STAGE_ONE_FEATURE_STRIDE for s in half)
        self.probabilities.append(torch.zeros((size_z, probabilities.shape[1], *half), dtype=torch.float32,
                                              device=self._device))
        self.features.append(torch.zeros((size_z, features.shape[1], *quarter), dtype=torch.float32,
                                         device=self._device))
        for tensor in (self.probabilities[-1], self.features[-1]):
            self.lanes.share(tensor, "two")  # made on lane one, read by stage two on lane two

    def _blend(self, target: Any, prediction: Any, weights: _WindowWeights, groups: list, real_items: int) -> None:
        for window, first_slot, slices in groups:
            if first_slot >= real_items:  # padded slots are dropped
                break
            count = min(len(slices), real_items - first_slot)
            x, y, source_x, source_y = weights.boxes[window]
            part = prediction[first_slot: first_slot + count, :, source_x, source_y]
            target[slices[0]: slices[0] + count, :, x, y].addcmul_(part, weights.weights[window])

    def _average_folds(self, rows: slice) -> None:
        if self.fold_mean is None:
            if len(self.probabilities) == 1:
                self.fold_mean = self.probabilities[0]
            else:
                self.fold_mean = torch.empty_like(self.probabilities[0])
                self.lanes.share(self.fold_mean, "two")
        if len(self.probabilities) == 1:
            return
        total = self.fold_mean[:, :, rows]
        total.copy_(self.probabilities[0][:, :, rows])
        for other in self.probabilities[1:]:
            total += other[:, :, rows]
        total /= len(self.probabilities)


def _window_groups(items: list[tuple[int, int]]) -> list[tuple[int, int, list[int]]]:
    """Consecutive slots of one window: ``(window, first slot, slices)`` with consecutive slices."""
    groups: list[tuple[int, int, list[int]]] = []
    for slot, (window, z) in enumerate(items):
        if groups and groups[-1][0] == window and groups[-1][2][-1] + 1 == z:
            groups[-1][2].append(z)
        else:
            groups.append((window, slot, [z]))
    return groups
