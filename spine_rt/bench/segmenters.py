"""What a benchmark measures: a segmenter, spine-rt's pipelines as one, and the two baselines.

A :class:`Segmenter` is anything that segments a scan and says how long each
stage took. spine-rt's pipelines (:class:`PipelineSegmenter`) and the
baselines (the authors' schedule, MONAI) all meet this protocol, so one
measuring loop (:func:`~spine_rt.bench.configuration_measurement.measure`)
times them alike.

:class:`PipelineSegmenter`: a :class:`~spine_rt.pipelines.SpineMrPipeline`
seen as a :class:`Segmenter`; used for spine-rt's fast schedule on each
backend and for the authors' schedule, which is the same pipeline class with
``schedule="reference"``.

**Baseline (a)**, :func:`reference_baseline`: the authors' inference schedule
(SEEDS.md), torch eager FP32, the package's weights.

Outer windows 512 x 1024 x 12 with stride 100/100/6, stage one re-run for
every outer window, 60 stage-two patches 192 x 192 x 12 per window (stride
81/81/1) in batches of 20, uniform averaging, no ROI
(:mod:`spine_rt.pipelines.schedules.reference`). The networks are the
package's torch weights run eagerly in FP32, as the authors ran them.

**Baseline (b)**, :class:`MonaiBaseline`: MONAI ``sliding_window_inference`` driving the same torch
stage-two network.

What runs, on torch runners in FP32 (the package's weights, or given modules):

1. spine-rt's preprocessing (the same network volume as the fast schedule);
2. stage one **once per slice** with spine-rt's stage-one loop
   (:func:`~spine_rt.pipelines.schedules.stage_one.run_stage_one`), not per
   outer window as the authors did: this baseline isolates the stage-two
   sliding window;
3. MONAI takes one input tensor, so the stage-one outputs become extra
   channels of it: ``(1, 1 + C + F, X, Y, Z)`` = the MR volume, the stage-one
   probabilities upsampled bilinearly to full resolution (C = 20), and the
   stage-one features upsampled bilinearly to stage two's 1/4-resolution
   grid, then repeated 4 x 4 in-plane to full resolution (F = 512 full, 64
   tiny). Built with torch on the device (``interpolate(...,
   align_corners=False)`` samples exactly the voxel centres that spine-rt's
   :func:`~spine_rt.pipelines.schedules.sampling.sample_in_plane` does). The
   predictor splits each window batch back into ``image`` (the first 1 + C
   channels) and ``stage_one_features`` (the other F channels, every 4th
   voxel in-plane); window starts are multiples of 4 (volume padded to a
   multiple of 8, window interval 96), so stage two gets the features
   spine-rt feeds it;
4. ``sliding_window_inference(overlap=0.5, mode="gaussian",
   sw_batch_size=4)`` over the whole volume (no region of interest), the
   predictor returning stage two's softmax; folds summed (same argmax as
   their mean);
5. argmax and spine-rt's exact inverse of the preprocessing.

The full-resolution extra channels cost ``(1 + C + F) x 4`` bytes per voxel
(340 B tiny, 2.1 kB full): the price of MONAI's one-tensor interface. With
the paper-size network the call peaks at about 1.55 times that (3.3 kB per
voxel measured) plus 4.3 GiB, so the MRSpineSeg-geometry phantom (7 M voxels)
needs about 26 GiB: :meth:`MonaiBaseline.memory_needed` estimates it before a call, the
call refuses to start beyond the memory available (one line, not the
kernel's OOM killer), and ``spine-rt bench`` leaves the baseline out with
the figures. torch and MONAI are imported when the baseline is built.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from spine_rt.errors import InputError
from spine_rt.pipelines import SpineMrPipeline


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One segmented scan.

    Attributes:
        labels: label map on the input's grid ``(I, J, K)``.
        seconds: time per step of the call (s), e.g. ``preprocessing``,
            ``stage_one``, ``stage_two``, ``postprocessing``.
        stage_two_patches_run / stage_two_patches_total: stage-two patches
            that ran / that the schedule planned.
        counts: every count the segmenter reports (``stage_one_slices``,
            ``stage_one_windows_per_slice``, ``stage_two_calls``, ...).
    """

    labels: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    stage_two_patches_run: int = 0
    stage_two_patches_total: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Segmenter(Protocol):
    """A pipeline or baseline under measurement.

    Attributes:
        name: how tables name it (``"spine-rt fast (onnxruntime)"``).
        kind: ``"spine-rt"`` or ``"baseline"``.
    """

    name: str
    kind: str

    def segment(self, image: np.ndarray, affine: np.ndarray) -> Segmentation:
        """Segment a scan ``(I, J, K)`` with its 4x4 affine."""

    def runner_groups(self) -> dict[str, Iterable[Any]]:
        """Stage name -> the runners whose ``infer`` calls are the backend time."""

    def describe(self) -> dict[str, Any]:
        """Schedule, backend, device, precision and settings, for the report."""

    def close(self) -> None:
        """Release the runners."""


#: report entries of ``seconds`` that are not steps of the call
_NOT_A_STEP = frozenset({"total"})


class PipelineSegmenter:
    """Adapts ``pipeline(image, affine) -> Result`` to :class:`~spine_rt.bench.segmenters.Segmenter`.

    Args:
        name: table name.
        kind: ``"spine-rt"`` or ``"baseline"``.
        pipeline: the pipeline (closed by :meth:`close`).
    """

    def __init__(self, name: str, kind: str, pipeline: SpineMrPipeline) -> None:
        self.name = name
        self.kind = kind
        self.pipeline = pipeline

    def segment(self, image: np.ndarray, affine: np.ndarray) -> Segmentation:
        result = self.pipeline(image, affine)
        report = result.report
        patches = report.get("stage_two_patches", {})
        seconds = {k: float(v) for k, v in report.get("seconds", {}).items() if k not in _NOT_A_STEP}
        return Segmentation(result.labels, seconds, int(patches.get("run", 0)), int(patches.get("total", 0)),
                            dict(report.get("counts", {})))

    def runner_groups(self) -> dict[str, Iterable[Any]]:
        return {"stage1": self.pipeline.stage_one.runners, "stage2": self.pipeline.stage_two.runners}

    def describe(self) -> dict[str, Any]:
        settings = self.pipeline.settings()
        settings.pop("stages", None)
        return settings

    def close(self) -> None:
        self.pipeline.close()


REFERENCE_NAME = "authors' schedule (torch fp32)"


def reference_baseline(package: str | os.PathLike[str], device: str = "cpu") -> PipelineSegmenter:
    """The authors' schedule on ``package``'s torch weights, FP32, on ``device``.

    Raises:
        InputError: not a spine MR package, or one without torch weights.
        EnvironmentProblem: torch is not installed or ``device`` is not visible.
    """
    from spine_rt.pipelines import load_pipeline

    pipeline = load_pipeline(package, backend="torch", device=device, schedule="reference", precision="fp32")
    return PipelineSegmenter(REFERENCE_NAME, "baseline", pipeline)


MONAI_NAME = "MONAI sliding window (torch fp32)"
#: MONAI settings of the baseline
MONAI_OVERLAP = 0.5
MONAI_MODE = "gaussian"
MONAI_SW_BATCH_SIZE = 4
#: stage two takes the stage-one features at 1/4 of the full in-plane resolution
FEATURE_STRIDE = 4
#: stage-one slices per call (as the fast schedule)
STAGE_ONE_BATCH_SIZE = 8
#: the call's peak host memory per byte of MONAI's one input tensor, and the paper-size networks' working memory
#: on top: a linear fit of the call's peak RSS with the paper-size package at two network volumes
#: (12 x 256 x 256: 6.75 GiB, 12 x 512 x 512: 14.0 GiB; torch fp32 on the CPU, one thread) gives 3,300 B per
#: voxel (1.55 x the tensor's 2,132) + 4.3 GiB
MONAI_INPUT_PEAK_FACTOR = 1.55
MONAI_FULL_PRESET_WORKING_BYTES = int(4.3 * 2**30)


class MonaiBaseline:
    """The MONAI baseline (see the module docstring); a :class:`~spine_rt.bench.segmenters.Segmenter`.

    Args:
        stage_one / stage_two: :class:`~spine_rt.pipelines.StageRunners` of torch
            runners (stage two's must take torch tensors).
        preprocessing: the MR preprocessing numbers.
        device: ``"cpu"`` or ``"cuda:N"`` (where MONAI's tensors live).
        overlap / mode / sw_batch_size: MONAI's settings.
        name: table name.
        input_channels: ``1 + C + F``, the channels of MONAI's input tensor (from the package's stage-two
            inputs); ``None``: unknown, then no memory estimate is made.
        working_bytes: the networks' own peak working memory in a call (bytes; added to the estimate).

    Raises:
        EnvironmentProblem: torch or MONAI is not installed.
    """

    kind = "baseline"

    def __init__(self, stage_one: Any, stage_two: Any, preprocessing: Any, device: str = "cpu",
                 overlap: float = MONAI_OVERLAP, mode: str = MONAI_MODE, sw_batch_size: int = MONAI_SW_BATCH_SIZE,
                 name: str = MONAI_NAME, input_channels: int | None = None, working_bytes: int = 0) -> None:
        from spine_rt.dependencies import require
        from spine_rt.pipelines.stage_runners import pair_folds

        require("torch", "the MONAI baseline")
        require("monai", "the MONAI baseline")
        self.name = name
        self.stage_one = stage_one
        self.stage_two = stage_two
        self.preprocessing = preprocessing
        self.device = device
        self.overlap = float(overlap)
        self.mode = mode
        self.sw_batch_size = int(sw_batch_size)
        self.input_channels = None if input_channels is None else int(input_channels)
        self.working_bytes = int(working_bytes)
        self.fold_pairs = pair_folds(stage_one, stage_two)
        self.patch = tuple(int(p) for p in stage_two.patch_size)
        factor = preprocessing.resolution_factor
        self.size_multiple = (factor * FEATURE_STRIDE, factor * FEATURE_STRIDE, 1)

    @classmethod
    def from_package(cls, package: str | os.PathLike[str], device: str = "cpu", **options: Any) -> MonaiBaseline:
        """The baseline on a spine MR package's torch weights (FP32).

        Raises:
            InputError: not a spine MR package, or one without torch weights.
            EnvironmentProblem: torch or MONAI is not installed.
        """
        from spine_rt.model_package import ModelPackage
        from spine_rt.pipelines import MrPreprocessing
        from spine_rt.pipelines.runner_factory import create_stage_runners

        opened = ModelPackage.open(package)
        if opened.manifest.task != "spine_mr":
            raise InputError(f"{opened.root}: a {opened.manifest.task} package; the MONAI baseline needs spine_mr")
        inputs = opened.manifest.stages["stage2"].inputs
        channels = sum(int(entry.shape[1] or 0) for entry in inputs) or None
        options.setdefault("input_channels", channels)
        full = opened.manifest.stages["stage2"].preset == "full"
        options.setdefault("working_bytes", MONAI_FULL_PRESET_WORKING_BYTES if full else 0)
        return cls(create_stage_runners(opened, "stage1", "torch", device, "fp32"),
                   create_stage_runners(opened, "stage2", "torch", device, "fp32"),
                   MrPreprocessing.from_manifest(opened.manifest.preprocessing), device, **options)

    def memory_needed(self, image: np.ndarray, affine: np.ndarray) -> int | None:
        """Host bytes a call on ``image`` is expected to peak at (see the module docstring): MONAI's input
        tensor over the network volume times :data:`MONAI_INPUT_PEAK_FACTOR`, plus the networks' working
        memory; ``None`` when the input channels are unknown."""
        from spine_rt.io import Image

        if self.input_channels is None:
            return None
        prepared = self.preprocessing.prepare(Image(image, np.asarray(affine, np.float64)), self.size_multiple,
                                              self.patch)
        return self._bytes_for(prepared.volume.size)

    def _bytes_for(self, voxels: int) -> int:
        return int(voxels * (self.input_channels or 0) * 4 * MONAI_INPUT_PEAK_FACTOR) + self.working_bytes

    def _check_memory(self, voxels: int) -> None:
        """Refuse a call whose input tensor cannot fit (one line with both figures), before it is built."""
        from spine_rt.pipelines.schedules.batch_memory import available_memory_bytes

        available = available_memory_bytes()
        need = self._bytes_for(voxels) if self.input_channels is not None else 0
        if available is not None and need > available:
            raise InputError(f"{self.name}: its one input tensor ({self.input_channels} channels over {voxels:,} "
                             f"voxels) needs about {need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB is available")

    # ------------------------------------------------------------------ Segmenter
    def segment(self, image: np.ndarray, affine: np.ndarray) -> Segmentation:
        import torch

        from spine_rt.io import Image
        from spine_rt.pipelines.schedules.sampling import downsample_in_plane
        from spine_rt.pipelines.schedules.stage_one import run_stage_one

        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        prepared = self.preprocessing.prepare(Image(image, np.asarray(affine, np.float64)), self.size_multiple,
                                              self.patch)
        volume = prepared.volume
        self._check_memory(int(volume.size))
        seconds["preprocessing"] = time.perf_counter() - clock

        clock = time.perf_counter()
        factor = self.preprocessing.resolution_factor
        stage_one = run_stage_one(downsample_in_plane(volume, factor), self.stage_one, STAGE_ONE_BATCH_SIZE, factor)
        seconds["stage_one"] = time.perf_counter() - clock

        seconds["stage_two_inputs"] = 0.0
        seconds["stage_two"] = 0.0
        total = None
        windows = 0
        with torch.inference_mode():
            for fold, runner in enumerate(self.stage_two.runners):
                clock = time.perf_counter()
                inputs = self.stacked_input(volume, stage_one.maps[self.fold_pairs[fold]])
                seconds["stage_two_inputs"] += time.perf_counter() - clock
                clock = time.perf_counter()
                probabilities, fold_windows = self.sliding_window(inputs, runner, stage_one.maps[0].classes)
                del inputs
                total = probabilities if total is None else total.add_(probabilities)
                windows += fold_windows
                seconds["stage_two"] += time.perf_counter() - clock
            clock = time.perf_counter()
            labels = torch.argmax(total[0], dim=0).to(torch.uint8).cpu().numpy()
        labels = prepared.labels_to_input(labels)
        seconds["postprocessing"] = time.perf_counter() - clock
        per_fold = windows // self.stage_two.fold_count
        counts = {"stage_one_slices": stage_one.slices, "stage_one_windows_per_slice": stage_one.windows_per_slice,
                  "stage_one_calls": stage_one.calls, "stage_two_patches_run": per_fold,
                  "stage_two_patches_total": per_fold, "voxels": int(volume.size)}
        return Segmentation(labels, seconds, per_fold, per_fold, counts)

    def runner_groups(self) -> dict[str, Iterable[Any]]:
        return {"stage1": self.stage_one.runners, "stage2": self.stage_two.runners}

    def describe(self) -> dict[str, Any]:
        return {
            "schedule": "MONAI sliding_window_inference over the whole volume; stage one once per slice",
            "backend": "torch",
            "device": self.device,
            "precision": self.stage_two.precision,
            "overlap": self.overlap,
            "mode": self.mode,
            "sw_batch_size": self.sw_batch_size,
            "input": "one tensor: MR + stage-one probabilities + stage-one features (4x4 repeated), "
                     "split inside the predictor",
        }

    def close(self) -> None:
        self.stage_one.close()
        self.stage_two.close()

    # ------------------------------------------------------------------ parts
    def stacked_input(self, volume: np.ndarray, maps: Any) -> Any:
        """``(1, 1 + C + F, X, Y, Z)`` float32 tensor on the device: MR, probabilities, features."""
        import torch
        from torch.nn.functional import interpolate

        size_x, size_y, size_z = volume.shape
        classes, features = maps.classes, maps.feature_channels
        device = torch.device(self.device)
        stacked = torch.empty((1, 1 + classes + features, size_x, size_y, size_z), dtype=torch.float32,
                              device=device)
        stacked[0, 0] = torch.from_numpy(volume).to(device)

        def upsampled(values: np.ndarray, factor: int, size: tuple[int, int]) -> Any:
            """``(C, X, Y, Z)`` -> ``(C, X', Y', Z)``, bilinear on every slice (voxel centres, edges clamped)."""
            slices = torch.from_numpy(values).to(device).permute(3, 0, 1, 2)  # (Z, C, X, Y)
            result = interpolate(slices, scale_factor=factor, mode="bilinear", align_corners=False)
            return result[:, :, : size[0], : size[1]].permute(1, 2, 3, 0)

        stacked[0, 1:1 + classes] = upsampled(maps.probabilities, maps.probability_stride, (size_x, size_y))
        quarter = (size_x // FEATURE_STRIDE, size_y // FEATURE_STRIDE)
        coarse = upsampled(maps.features, maps.feature_stride // FEATURE_STRIDE, quarter)  # (F, X/4, Y/4, Z)
        target = stacked[0, 1 + classes:].view(features, quarter[0], FEATURE_STRIDE, quarter[1], FEATURE_STRIDE,
                                               size_z)
        target.copy_(coarse[:, :, None, :, None, :].expand_as(target))
        return stacked

    def sliding_window(self, inputs: Any, runner: Any, classes: int) -> tuple[Any, int]:
        """MONAI over ``inputs`` with ``runner`` (a stage-two TorchRunner); returns probabilities and windows run.

        Call it under ``torch.inference_mode()``.
        """
        import torch
        from monai.inferers import sliding_window_inference

        image_name, feature_name = self.stage_two.input_names[:2]
        output_name = self.stage_two.output_names[0]
        image_channels = 1 + classes
        windows = 0

        def predictor(batch: Any) -> Any:
            nonlocal windows
            windows += int(batch.shape[0])
            image = batch[:, :image_channels].contiguous()
            features = batch[:, image_channels:, ::FEATURE_STRIDE, ::FEATURE_STRIDE, :].contiguous()
            out = runner.infer({image_name: image, feature_name: features})[output_name].float()
            return out if output_name == "probabilities" else torch.softmax(out, dim=1)

        probabilities = sliding_window_inference(
            inputs, self.patch, self.sw_batch_size, predictor, overlap=self.overlap, mode=self.mode,
            sw_device=self.device, device=self.device, progress=False,
        )
        return probabilities, windows
