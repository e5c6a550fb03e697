"""``spine-rt train mbnet``: segmentation + regression of the 18 inspection values.

Per step: ``batch_size`` X-rays (intensity-augmented: MONAI
``RandScaleIntensity`` and ``RandGaussianNoise`` on the [0, 1] image, clipped
back to [0, 1]; no spatial augmentation, which would change the angles),
loss = 0.9 CE(segmentation logits, mask) + 0.1 MSE(values, scaled targets)
(SEEDS). Targets are min-max scaled over the training X-rays
(:class:`~spine_rt.anatomy.xray_values.MinMaxScaling`, stored in the
checkpoint as ``value_scaling``).

Validation: Dice per class of the argmax segmentation, plus the mean
absolute error of the values in degrees (LDI in %), ``value_mae``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from spine_rt.anatomy.label_maps import label_map_to_json
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES, MinMaxScaling
from spine_rt.dependencies import require
from spine_rt.errors import InputError
from spine_rt.measure.overlap import dice_per_label
from spine_rt.train.checkpoints import build_from_config, network_config
from spine_rt.train.loop import (
    TrainingDevice, TrainingOptions, TrainingResult, resolve_training_device, run_training, seed_torch)
from spine_rt.train.validation import ValidationDice, summarize_dice
from spine_rt.train.xray_data import XrayTrainingData

SEGMENTATION_WEIGHT = 0.9
REGRESSION_WEIGHT = 0.1


@dataclass(frozen=True)
class MBNetRecipe:
    """Settings of the MBNet recipe.

    Attributes:
        preset: ``"full"`` or ``"tiny"``.
        batch_size: X-rays per step.
        segmentation_weight / regression_weight: the loss weights (0.9 CE, 0.1 MSE).
        augment: random intensity changes.
    """

    preset: str = "full"
    batch_size: int = 4
    segmentation_weight: float = SEGMENTATION_WEIGHT
    regression_weight: float = REGRESSION_WEIGHT
    augment: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {self.batch_size!r}")

    def task(self, data: XrayTrainingData, device: TrainingDevice, seed: int = 0,
             resume: Mapping[str, Any] | None = None) -> MBNetTask:
        return MBNetTask(self, data, device, seed, resume)

    def train(self, data: XrayTrainingData, out_dir: str | os.PathLike[str], options: TrainingOptions | None = None,
              resume: Mapping[str, Any] | None = None, overwrite: bool = False, on_epoch=None) -> TrainingResult:
        """Train on ``data``; checkpoints and logs go to ``out_dir``."""
        options = options or TrainingOptions()
        device = resolve_training_device(options.device, options.mixed_precision)
        return run_training(self.task(data, device, options.seed, resume), options, device, out_dir, resume,
                            overwrite, on_epoch)


class MBNetTask:
    """The MBNet recipe as a :class:`~spine_rt.train.loop.TrainingTask`."""

    recipe = "mbnet"

    def __init__(self, settings: MBNetRecipe, data: XrayTrainingData, device: TrainingDevice, seed: int,
                 resume: Mapping[str, Any] | None) -> None:
        self.settings = settings
        self.data = data
        self.device = device
        if resume is not None:
            self.config = dict(resume["config"])
            self.scaling = MinMaxScaling.from_dict(resume["value_scaling"])
            if tuple(self.config["overrides"].get("image_size", data.image_size)) != data.image_size:
                raise InputError(f"the resume checkpoint was trained at {self.config['overrides']['image_size']}, "
                                 f"the data is {data.image_size}")
        else:
            self.config = network_config("mbnet", settings.preset,
                                         {"num_classes": data.num_classes, "image_size": data.image_size})
            self.scaling = MinMaxScaling.fit(np.stack([x.values for x in data.training]), INSPECTION_VALUE_NAMES)
        seed_torch(seed)
        self.model = build_from_config(self.config).to(device.device)
        self.rng = np.random.default_rng(seed)
        self._intensity = None
        if settings.augment:
            transforms = require("monai.transforms", "augmenting X-rays")
            self._intensity = transforms.Compose([
                transforms.RandScaleIntensity(factors=0.1, prob=0.5),
                transforms.RandGaussianNoise(prob=0.2, mean=0.0, std=0.02),
            ])
            self._intensity.set_random_state(seed=seed)

    def start_epoch(self, seed: int, iteration: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        if self._intensity is not None:
            self._intensity.set_random_state(seed=seed)

    def sample_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(images (B, 3, H, W), masks (B, H, W) int64, scaled values (B, 18))`` on the device."""
        chosen = [self.data.training[int(i)] for i in self.rng.integers(0, len(self.data.training),
                                                                         self.settings.batch_size)]
        images = []
        for example in chosen:
            image = example.image
            if self._intensity is not None:
                image = np.clip(np.asarray(self._intensity(image), np.float32), 0.0, 1.0)
            images.append(image)
        to = self.device.device
        return (torch.from_numpy(np.stack(images)).to(to),
                torch.from_numpy(np.stack([x.mask for x in chosen]).astype(np.int64)).to(to),
                torch.from_numpy(self.scaling.scale(np.stack([x.values for x in chosen]))).to(to))

    def batch_loss(self, batch):
        images, masks, targets = batch
        logits, values = self.model.logits_and_values(images)
        cross_entropy = F.cross_entropy(logits.float(), masks)
        mse = F.mse_loss(values.float(), targets)
        total = self.settings.segmentation_weight * cross_entropy + self.settings.regression_weight * mse
        return total, {"cross_entropy": cross_entropy.detach(), "mse": mse.detach()}

    @torch.no_grad()
    def validate(self) -> ValidationDice:
        """Dice per class and the mean absolute value error (degrees; LDI %)."""
        self.model.eval()
        per_scan, errors = {}, []
        for example in self.data.validation:
            image = torch.from_numpy(example.image[None]).to(self.device.device)
            with self.device.autocast():
                probabilities, values = self.model(image)
            prediction = probabilities.float().argmax(dim=1)[0].cpu().numpy()
            per_scan[example.name] = dice_per_label(prediction, example.mask, self.data.num_classes)
            errors.append(np.abs(self.scaling.unscale(values.float()[0].cpu().numpy()) - example.values))
        self.model.train()
        return summarize_dice(per_scan, self.data.label_map, {"value_mae": float(np.mean(errors))})

    def checkpoint_fields(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "labels": label_map_to_json(self.data.label_map),
            "value_scaling": self.scaling.as_dict(),
            "preprocessing": {"color": "RGB", "image_size": list(self.data.image_size), "scale": 1.0 / 255.0,
                              "offset": 0.0},
            "settings": asdict(self.settings),
            "data": self.data.describe(),
        }
