"""``spine-rt train stage2``: stage two on class-balanced patches, with a frozen stage one.

The stage one of a ``stage1`` checkpoint is frozen (eval mode, no
gradients) and run once over every training and validation scan exactly as
the pipeline feeds stage two: on the full-resolution scan coarsened in-plane
by ``f`` (block mean), whole slices, probabilities at stride ``f`` and
features at stride ``4 f`` kept as float16 maps
(:class:`spine_rt.pipelines.schedules.maps.StageOneMaps`). Each patch then
takes its MR, the probabilities sampled to full resolution and the features
at 1/4 resolution from those maps (the pipeline's own sampling).

Per step: ``batch_size`` patches drawn class-balanced
(:mod:`spine_rt.train.sampling`), flipped and intensity-augmented
(:mod:`spine_rt.train.augmentation`), loss = Dice + CE. The grid,
labels and preprocessing are the stage one's (stored in its checkpoint).

Validation: stage two over each validation scan in windows of the patch
size (stride = patch, the last window flush with the edge; where windows
overlap the later one wins), argmax, Dice per class at full resolution.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spine_rt.anatomy.label_maps import label_map_from_checkpoint, label_map_to_json
from spine_rt.errors import InputError
from spine_rt.measure.overlap import dice_per_label
from spine_rt.pipelines.schedules.sampling import downsample_in_plane
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.train.augmentation import augment_patch
from spine_rt.train.checkpoints import (
    build_from_config, file_sha256, network_config, network_from_checkpoint, read_training_checkpoint)
from spine_rt.train.loop import (
    TrainingDevice, TrainingOptions, TrainingResult, resolve_training_device, run_training, seed_torch)
from spine_rt.train.losses import DiceCrossEntropyLoss
from spine_rt.train.mr_data import MrTrainingData
from spine_rt.train.sampling import ClassBalancedPatchSampler
from spine_rt.train.stage_one import FEATURE_STRIDE, run_stage_one_on_volume
from spine_rt.train.validation import ValidationDice, summarize_dice
from spine_rt.train.volumes import TrainingVolume, preprocessing_record


DEFAULT_PATCH_SIZE = (192, 192, 12)


@dataclass(frozen=True)
class FrozenStageOne:
    """A trained stage one and what it was trained with (from its checkpoint).

    Attributes:
        pair: the ``stage1_pair`` network (CPU, eval mode, no gradients).
        label_map: its ``{id: name}``.
        preprocessing: its grid and normalisation (stage two trains on the same).
        reference: what stage two's checkpoints record about it (file, sha256, config, epoch).
    """

    pair: nn.Module
    label_map: dict[int, str]
    preprocessing: MrPreprocessing
    reference: dict[str, Any]

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str]) -> FrozenStageOne:
        """Read a ``stage1`` training checkpoint.

        Raises:
            InputError: missing, unreadable or not a stage-one checkpoint.
        """
        checkpoint = read_training_checkpoint(path, "stage1")
        pair = network_from_checkpoint(checkpoint)
        pair.eval()
        for parameter in pair.parameters():
            parameter.requires_grad_(False)
        reference = {
            "path": str(Path(path).resolve()),
            "sha256": file_sha256(path),
            "config": checkpoint["config"],
            "epoch": int(checkpoint["epoch"]),
        }
        return cls(pair, label_map_from_checkpoint(checkpoint["labels"]),
                   MrPreprocessing.from_manifest(checkpoint["preprocessing"]), reference)


def window_starts(length: int, size: int) -> list[int]:
    """Starts of windows of ``size`` covering ``[0, length)``: stride ``size``, the last flush with the end."""
    starts = list(range(0, length - size + 1, size))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


@dataclass(frozen=True)
class StageTwoRecipe:
    """Settings of the stage-two recipe.

    Attributes:
        preset: ``"full"`` or ``"tiny"`` (independent of the stage one's preset).
        patch_size: ``(X, Y, Z)`` voxels at full resolution; ``X, Y`` multiples of 16.
        batch_size: patches per step (>= 2: batch norm after DeepLab's image pooling).
        augment: random flips and intensity changes.
        contrast_augmentation: also gamma and bias field on the MR channel (``--spine-augmentation``;
            :func:`spine_rt.train.augmentation.augment_patch`).
        stage_one_batch_size: slices per stage-one forward pass when caching its maps.
        validation_batch_size: windows per forward pass in validation.
    """

    preset: str = "full"
    patch_size: tuple[int, int, int] = DEFAULT_PATCH_SIZE
    batch_size: int = 2
    augment: bool = True
    contrast_augmentation: bool = False
    stage_one_batch_size: int = 8
    validation_batch_size: int = 2

    def __post_init__(self) -> None:
        patch = tuple(int(p) for p in self.patch_size)
        object.__setattr__(self, "patch_size", patch)
        if len(patch) != 3 or patch[0] % 16 or patch[1] % 16 or min(patch) < 1:
            raise InputError(f"stage-two patch size must be (X, Y, Z) with X, Y multiples of 16, got {self.patch_size}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise InputError(f"stage-two batch size must be at least 2 (batch norm after DeepLab's image pooling), "
                             f"got {self.batch_size!r}")

    def task(self, data: MrTrainingData, stage_one: FrozenStageOne, device: TrainingDevice, seed: int = 0,
             resume: Mapping[str, Any] | None = None, progress: bool = False) -> StageTwoTask:
        """The :class:`StageTwoTask` (network seeded with ``seed``, or rebuilt from ``resume``)."""
        return StageTwoTask(self, data, stage_one, device, seed, resume, progress)

    def train(self, data: MrTrainingData, stage_one: FrozenStageOne, out_dir: str | os.PathLike[str],
              options: TrainingOptions | None = None, resume: Mapping[str, Any] | None = None,
              overwrite: bool = False, on_epoch=None) -> TrainingResult:
        """Train on ``data`` (prepared with ``stage_one.preprocessing`` and its labels)."""
        options = options or TrainingOptions()
        device = resolve_training_device(options.device, options.mixed_precision)
        task = self.task(data, stage_one, device, options.seed, resume, options.progress)
        return run_training(task, options, device, out_dir, resume, overwrite, on_epoch)


class StageTwoTask:
    """The stage-two recipe as a :class:`~spine_rt.train.loop.TrainingTask`."""

    recipe = "stage2"

    def __init__(self, settings: StageTwoRecipe, data: MrTrainingData, stage_one: FrozenStageOne,
                 device: TrainingDevice, seed: int, resume: Mapping[str, Any] | None, progress: bool) -> None:
        if data.label_map != stage_one.label_map:
            raise InputError("stage two must be trained with its stage one's labels; the data's labels differ")
        if not np.allclose(data.preprocessing.spacing_mm, stage_one.preprocessing.spacing_mm) or (
                data.preprocessing.resolution_factor != stage_one.preprocessing.resolution_factor):
            raise InputError(f"the data was prepared at {data.preprocessing.spacing_mm} mm, the stage one was "
                             f"trained at {stage_one.preprocessing.spacing_mm} mm; prepare the data with its preprocessing")
        self.settings = settings
        self.data = data
        self.device = device
        self.stage_one = stage_one
        self.factor = data.preprocessing.resolution_factor
        pair = stage_one.pair.to(device.device)
        if resume is not None:
            self.config = dict(resume["config"])
            patch = tuple(self.config["overrides"]["patch_size"])
        else:
            patch = settings.patch_size
            self.config = network_config("stage2", settings.preset, {
                "num_classes": data.num_classes,
                "in_channels": 1 + data.num_classes,
                "patch_size": patch,
                "stage_one_feature_channels": int(pair.feature_channels),
            })
        self.patch_size = tuple(int(p) for p in patch)
        seed_torch(seed)
        self.model = build_from_config(self.config).to(device.device)
        self.loss = DiceCrossEntropyLoss()
        self.training = list(data.training)
        self.validation = list(data.validation)
        for volume in self.training + self.validation:
            if any(n < p for n, p in zip(volume.shape, self.patch_size)):
                raise InputError(f"scan {volume.name} {volume.shape} is smaller than the patch {self.patch_size}; "
                                 f"prepare the data with minimum_shape=patch_size")
        self.maps = self._stage_one_maps(pair, self.training + [v for v in self.validation if v not in self.training],
                                         progress)
        step = FEATURE_STRIDE * self.factor
        self.sampler = ClassBalancedPatchSampler([v.labels for v in self.training], self.patch_size, (step, step, 1))
        self.rng = np.random.default_rng(seed)

    def _stage_one_maps(self, pair: nn.Module, volumes: Sequence[TrainingVolume], progress: bool) -> dict[str, StageOneMaps]:
        from tqdm import tqdm

        maps = {}
        for volume in tqdm(volumes, desc="stage one maps", disable=not progress, leave=False):
            half = downsample_in_plane(volume.image, self.factor)
            maps[volume.name] = run_stage_one_on_volume(pair, half, self.device, self.factor,
                                                        self.settings.stage_one_batch_size, dtype=np.float16)
        return maps

    def start_epoch(self, seed: int, iteration: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def patch(self, volume: TrainingVolume, start: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One patch's ``image (1 + C, X, Y, Z)``, ``features (F, X/4, Y/4, Z)``, ``labels (X, Y, Z)``."""
        maps = self.maps[volume.name]
        window = tuple(slice(int(s), int(s) + p) for s, p in zip(start, self.patch_size))
        mr = volume.image[window][None]
        probabilities = maps.patch_probabilities(start, self.patch_size)
        features = maps.patch_features(start, self.patch_size).astype(np.float32)
        image = np.concatenate([mr, probabilities.astype(np.float32)])
        labels = volume.labels[window] if volume.labels is not None else None
        return image, features, labels

    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(image (B, 1 + C, X, Y, Z), features (B, F, X/4, Y/4, Z), labels (B, X, Y, Z))`` on the device."""
        images, features, labels = [], [], []
        for draw in self.sampler.draws(self.settings.batch_size, self.rng):
            patch = self.patch(self.training[draw.volume], draw.start)
            if self.settings.augment:
                patch = augment_patch(*patch, self.rng, contrast=self.settings.contrast_augmentation)
            for store, value in zip((images, features, labels), patch):
                store.append(value)
        to = self.device.device
        return (torch.from_numpy(np.stack(images)).to(to), torch.from_numpy(np.stack(features)).to(to),
                torch.from_numpy(np.stack(labels).astype(np.int64)).to(to))

    def batch_loss(self, batch):
        image, features, labels = batch
        logits = self.model(image, features)
        return self.loss(logits, labels), {}

    @torch.no_grad()
    def predict_volume(self, volume: TrainingVolume) -> np.ndarray:
        """Labels ``(X, Y, Z)`` from stage two in patch-sized windows (see the module docstring)."""
        self.model.eval()
        prediction = np.zeros(volume.shape, np.int64)
        starts = [(x, y, z) for x in window_starts(volume.shape[0], self.patch_size[0])
                  for y in window_starts(volume.shape[1], self.patch_size[1])
                  for z in window_starts(volume.shape[2], self.patch_size[2])]
        size = self.settings.validation_batch_size
        for first in range(0, len(starts), size):
            chunk = starts[first:first + size]
            patches = [self.patch(volume, start)[:2] for start in chunk]
            image = torch.from_numpy(np.stack([p[0] for p in patches])).to(self.device.device)
            features = torch.from_numpy(np.stack([p[1] for p in patches])).to(self.device.device)
            with self.device.autocast():
                labels = self.model(image, features).argmax(dim=1).cpu().numpy()
            for start, patch_labels in zip(chunk, labels):
                window = tuple(slice(int(s), int(s) + p) for s, p in zip(start, self.patch_size))
                prediction[window] = patch_labels
        self.model.train()
        return prediction

    def validate(self) -> ValidationDice:
        """Dice per class at full resolution over the validation scans."""
        per_scan = {v.name: dice_per_label(self.predict_volume(v), v.labels, self.data.num_classes)
                    for v in self.validation}
        return summarize_dice(per_scan, self.data.label_map)

    def checkpoint_fields(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "labels": label_map_to_json(self.data.label_map),
            "preprocessing": preprocessing_record(self.data.preprocessing),
            "settings": {**asdict(self.settings), "patch_size": list(self.patch_size)},
            "data": self.data.describe(),
            "stage_one": self.stage_one.reference,
        }
