"""``spine-rt train stage1``: the stage-one recipe, and stage one run over whole scans.

Per step (SEEDS.md): ``batch_size`` labelled 3-slice crops and as many
unlabelled pairs (CutMix, 3 boxes over 25-50 % of the crop), loss =
DiceCE of each branch on the labelled crops + CE of each branch against the
other's pseudo-labels on the mixed crops (:mod:`spine_rt.train.losses`).
The unlabelled pool is the unlabelled scans plus the labelled training
scans (their labels unused there). Samples are drawn on stage one's grid
(the full-resolution scan coarsened in-plane by ``f``), augmented with
:class:`~spine_rt.train.augmentation.SliceAugmentation`.

Validation: both branches' mean softmax over every slice of each validation
scan (whole slices), argmax, Dice per class on stage one's grid.

**Stage one over whole scans.** Stage one over whole sagittal slices of a training scan (validation,
and stage two's frozen input).

Each slice ``z`` of a scan on stage one's grid becomes a 3-channel picture
``(z-1, z, z+1)``, padded with background at the far edges to multiples of
16 (the output stride), run in batches of slices, and the outputs are
cropped back. The result is the pipeline's :class:`StageOneMaps`:
probabilities ``(C, X, Y, Z)`` (mean softmax of both branches) and features
``(2F, X/4, Y/4, Z)``, on stage one's grid. The pipeline tiles larger slices
with windows instead; for the scan sizes of training the difference is
confined to the border.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from spine_rt.anatomy.label_maps import label_map_from_checkpoint, label_map_to_json
from spine_rt.errors import InputError
from spine_rt.measure.overlap import dice_per_label
from spine_rt.pipelines.schedules.maps import StageOneMaps
from spine_rt.train.augmentation import SliceAugmentation, cutmix_masks
from spine_rt.train.checkpoints import build_from_config, network_config
from spine_rt.train.loop import (
    TrainingDevice, TrainingOptions, TrainingResult, resolve_training_device, run_training, seed_torch)
from spine_rt.train.losses import CpsBatch, CrossPseudoSupervisionLoss
from spine_rt.train.mr_data import MrTrainingData
from spine_rt.train.sampling import DEFAULT_FOREGROUND_SHARE, SliceSampler, slice_triplet
from spine_rt.train.validation import ValidationDice, summarize_dice
from spine_rt.train.volumes import preprocessing_record


def cps_rampup(iteration: int, rampup_iterations: int) -> float:
    """The share of the CPS weight at ``iteration``: ``exp(-5 (1 - t)^2)``, ``t = iteration / rampup``, 1 after it."""
    if rampup_iterations <= 0 or iteration >= rampup_iterations:
        return 1.0
    remaining = 1.0 - iteration / rampup_iterations
    return math.exp(-5.0 * remaining * remaining)


#: SEEDS' training crop (256 x 512) with the long side along the spine: (S->I, A->P) pixels at stage one's grid
DEFAULT_CROP_SIZE = (512, 256)


@dataclass(frozen=True)
class StageOneRecipe:
    """Settings of the stage-one recipe.

    Attributes:
        preset: ``"full"`` (the paper network) or ``"tiny"``.
        crop_size: ``(X, Y)`` crop on stage one's grid, multiples of 16.
        batch_size: labelled crops per step (and unlabelled pairs per step).
        cps_weight: weight of the cross pseudo supervision term (SEEDS: 1).
        cps_rampup_iterations: the CPS weight rises from 0 to ``cps_weight`` over this many
            steps (sigmoid ramp-up ``exp(-5 (1 - t)^2)``); 0 = full weight from the first step,
            as SEEDS states. From random weights on a few scans a ramp-up keeps the two
            branches' early all-background pseudo-labels from locking in.
        foreground_share: chance a labelled crop is centred on a labelled voxel.
        augment: random flips, affine and intensity changes.
        spine_augmentation: also shift along the spine, cut the field of view and change the
            contrast (:class:`~spine_rt.train.augmentation.SliceAugmentation` ``spine=True``).
        validation_batch_size: slices per forward pass in validation.
    """

    preset: str = "full"
    crop_size: tuple[int, int] = DEFAULT_CROP_SIZE
    batch_size: int = 4
    cps_weight: float = 1.0
    cps_rampup_iterations: int = 0
    foreground_share: float = DEFAULT_FOREGROUND_SHARE
    augment: bool = True
    spine_augmentation: bool = False
    validation_batch_size: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_size", tuple(int(c) for c in self.crop_size))
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if self.cps_weight < 0:
            raise InputError(f"cps weight must be >= 0, got {self.cps_weight!r}")
        if isinstance(self.cps_rampup_iterations, bool) or not isinstance(self.cps_rampup_iterations, int) \
                or self.cps_rampup_iterations < 0:
            raise InputError(f"cps ramp-up must be a non-negative number of steps, got {self.cps_rampup_iterations!r}")

    def task(self, data: MrTrainingData, device: TrainingDevice, seed: int = 0,
             resume: Mapping[str, Any] | None = None) -> StageOneTask:
        """The :class:`StageOneTask` for ``data`` (network seeded with ``seed``, or rebuilt from ``resume``)."""
        return StageOneTask(self, data, device, seed, resume)

    def train(self, data: MrTrainingData, out_dir: str | os.PathLike[str], options: TrainingOptions | None = None,
              resume: Mapping[str, Any] | None = None, overwrite: bool = False, on_epoch=None) -> TrainingResult:
        """Train on ``data``; checkpoints and logs go to ``out_dir`` (see :func:`run_training`)."""
        options = options or TrainingOptions()
        device = resolve_training_device(options.device, options.mixed_precision)
        task = self.task(data, device, options.seed, resume)
        return run_training(task, options, device, out_dir, resume, overwrite, on_epoch)


class StageOneTask:
    """The stage-one recipe as a :class:`~spine_rt.train.loop.TrainingTask`."""

    recipe = "stage1"

    def __init__(self, settings: StageOneRecipe, data: MrTrainingData, device: TrainingDevice, seed: int,
                 resume: Mapping[str, Any] | None) -> None:
        self.settings = settings
        self.data = data
        self.device = device
        self.factor = data.preprocessing.resolution_factor
        if resume is not None:
            self.config = dict(resume["config"])
            if label_map_from_checkpoint(resume["labels"]) != data.label_map:
                raise InputError("the resume checkpoint was trained with other labels than this data's labels.json")
        else:
            self.config = network_config("stage1_pair", settings.preset, {"num_classes": data.num_classes})
        seed_torch(seed)
        self.model = build_from_config(self.config).to(device.device)
        if self.model.config.num_classes != data.num_classes:
            raise InputError(f"the network has {self.model.config.num_classes} classes, the labels {data.num_classes}")
        self.training = [v.at_stage_one_resolution(self.factor) for v in data.training]
        self.validation = [v.at_stage_one_resolution(self.factor) for v in data.validation]
        unlabelled = [v.at_stage_one_resolution(self.factor) for v in data.unlabelled]
        self.labelled_sampler = SliceSampler(self.training, settings.crop_size, settings.foreground_share)
        self.unlabelled_sampler = SliceSampler(self.training + unlabelled, settings.crop_size, 0.0)
        self.augmentation = (SliceAugmentation(settings.crop_size, seed, spine=settings.spine_augmentation)
                             if settings.augment else None)
        self.loss = CrossPseudoSupervisionLoss(settings.cps_weight)
        self.rng = np.random.default_rng(seed)
        self.iteration = 0

    def start_epoch(self, seed: int, iteration: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.iteration = iteration
        if self.augmentation is not None:
            self.augmentation.set_seed(seed)

    def _augmented(self, images: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        if self.augmentation is None:
            return images, labels
        pairs = [self.augmentation(images[i], None if labels is None else labels[i]) for i in range(len(images))]
        out_images = np.stack([p[0] for p in pairs])
        out_labels = None if labels is None else np.stack([p[1] for p in pairs])
        return out_images, out_labels

    def sample_batch(self) -> CpsBatch:
        """``batch_size`` labelled crops and as many unlabelled pairs with CutMix masks."""
        count = self.settings.batch_size
        images, labels = self._augmented(*self.labelled_sampler.draw(count, self.rng, labelled=True))
        first, _ = self._augmented(self.unlabelled_sampler.draw(count, self.rng, labelled=False)[0], None)
        second, _ = self._augmented(self.unlabelled_sampler.draw(count, self.rng, labelled=False)[0], None)
        masks = cutmix_masks(count, self.settings.crop_size, self.rng)[:, None]
        to = self.device.device
        return CpsBatch(
            images=torch.from_numpy(images).to(to),
            labels=torch.from_numpy(labels).to(to),
            unlabelled_first=torch.from_numpy(first).to(to),
            unlabelled_second=torch.from_numpy(second).to(to),
            masks=torch.from_numpy(masks).to(to),
        )

    def batch_loss(self, batch: CpsBatch):
        self.loss.cps_weight = cps_rampup(self.iteration, self.settings.cps_rampup_iterations) * self.settings.cps_weight
        self.iteration += 1
        return self.loss(self.model, batch)

    def validate(self) -> ValidationDice:
        """Dice per class on stage one's grid over the validation scans."""
        per_scan = {}
        for volume in self.validation:
            maps = run_stage_one_on_volume(self.model, volume.image, self.device, self.factor,
                                           self.settings.validation_batch_size, keep_features=False)
            prediction = maps.probabilities.argmax(axis=0)
            per_scan[volume.name] = dice_per_label(prediction, volume.labels, self.data.num_classes)
        self.model.train()
        return summarize_dice(per_scan, self.data.label_map)

    def checkpoint_fields(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "labels": label_map_to_json(self.data.label_map),
            "preprocessing": preprocessing_record(self.data.preprocessing),
            "settings": {**asdict(self.settings), "crop_size": list(self.settings.crop_size)},
            "data": self.data.describe(),
        }


# -- stage one over whole scans ----------------------------------------------------------------------

STAGE_ONE_STRIDE = 16
FEATURE_STRIDE = 4


def _padded(volume: np.ndarray) -> np.ndarray:
    size_x, size_y, _ = volume.shape
    target_x = math.ceil(size_x / STAGE_ONE_STRIDE) * STAGE_ONE_STRIDE
    target_y = math.ceil(size_y / STAGE_ONE_STRIDE) * STAGE_ONE_STRIDE
    return np.pad(volume, [(0, target_x - size_x), (0, target_y - size_y), (0, 0)])


@torch.no_grad()
def run_stage_one_on_volume(
    pair: nn.Module,
    volume: np.ndarray,
    device: TrainingDevice,
    resolution_factor: int,
    batch_size: int = 8,
    keep_features: bool = True,
    dtype: np.dtype = np.float32,
) -> StageOneMaps:
    """Stage one's maps over ``volume`` ``(X, Y, Z)`` (stage one's grid; ``X, Y`` multiples of 4).

    Args:
        pair: a ``stage1_pair`` network (put in eval mode here; the caller restores train mode).
        volume: the normalised scan at stage one's resolution.
        device: where to run (autocast with mixed precision).
        resolution_factor: ``f`` (recorded in the maps: probabilities at stride ``f``, features ``4 f``).
        batch_size: slices per forward pass.
        keep_features: False returns an empty feature map (validation needs only probabilities).
        dtype: dtype of the returned maps (float16 halves the memory of cached maps).
    """
    pair.eval()
    size_x, size_y, size_z = volume.shape
    padded = _padded(volume)
    probabilities = np.zeros((0,), dtype)
    features = np.zeros((0,), dtype)
    first = True
    for start in range(0, size_z, batch_size):
        slices = range(start, min(start + batch_size, size_z))
        batch = torch.from_numpy(np.stack([slice_triplet(padded, z) for z in slices])).to(device.device)
        with device.autocast():
            batch_probabilities, batch_features = pair(batch)
        batch_probabilities = batch_probabilities.float()[:, :, :size_x, :size_y].cpu().numpy()
        if first:
            probabilities = np.zeros((batch_probabilities.shape[1], size_x, size_y, size_z), dtype)
            channels = batch_features.shape[1] if keep_features else 0
            features = np.zeros((channels, size_x // FEATURE_STRIDE, size_y // FEATURE_STRIDE, size_z), dtype)
            first = False
        probabilities[..., slices.start:slices.stop] = np.moveaxis(batch_probabilities, 0, -1)
        if keep_features:
            cropped = batch_features.float()[:, :, :size_x // FEATURE_STRIDE, :size_y // FEATURE_STRIDE]
            features[..., slices.start:slices.stop] = np.moveaxis(cropped.cpu().numpy(), 0, -1)
    return StageOneMaps(probabilities, features, resolution_factor, resolution_factor * FEATURE_STRIDE)
