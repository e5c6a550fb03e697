"""MBNet: BiLuNet plus a regression branch for 18 lumbar inspection values.

The regression branch reads the segmentation softmax ``(N, 5, H, W)``:
3x3 conv 32 + SiLU -> max-pool 4 -> 3x3 conv 128 + SiLU -> max-pool 4 ->
flatten -> dense 1024 + ReLU -> dense 1024 + ReLU -> dense 18 -> sigmoid.
The values are min-max scaled to [0, 1] during training (the scaler belongs
to the trained model); their order is
:data:`spine_rt.anatomy.xray_values.INSPECTION_VALUE_NAMES`.

The flatten makes the network specific to its ``image_size`` (512 x 512);
the dense layer after it has ``128 * (H/16) * (W/16)`` inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.errors import InputError
from spine_rt.models.bilunet import SIZE_MULTIPLE, BiLuNet, BiLuNetConfig
from spine_rt.models.channel_softmax import channel_softmax
from spine_rt.models.input_shape import require_shape
from spine_rt.models.overrides import apply_overrides, select_preset

#: The outputs of :meth:`MBNet.forward`, in order.
OUTPUT_NAMES: tuple[str, str] = ("segmentation", "inspection_values")
#: Down-sampling of the regression branch (two 4x4 max-pools).
REGRESSION_STRIDE = 16


@dataclass(frozen=True)
class MBNetConfig(BiLuNetConfig):
    """BiLuNet's fields plus the regression branch (full preset = the paper network)."""

    image_size: tuple[int, int] = (512, 512)
    regression_channels: tuple[int, int] = (32, 128)
    regression_hidden: tuple[int, int] = (1024, 1024)
    num_values: int = len(INSPECTION_VALUE_NAMES)


MBNET_PRESETS: dict[str, MBNetConfig] = {
    "full": MBNetConfig(),
    "tiny": MBNetConfig(unet_channels=(4, 8, 16, 32, 64, 128), spatial_channels=(4, 8, 16),
                        fusion_channels=32, regression_channels=(4, 8), regression_hidden=(32, 32)),
}


class InspectionValueRegressor(nn.Module):
    """Regression branch: ``(N, num_classes, H, W)`` softmax -> ``(N, num_values)`` in (0, 1)."""

    def __init__(self, config: MBNetConfig) -> None:
        super().__init__()
        first, second = config.regression_channels
        height, width = config.image_size
        flat = second * (height // REGRESSION_STRIDE) * (width // REGRESSION_STRIDE)
        self.features = nn.Sequential(
            nn.Conv2d(config.num_classes, first, 3, padding=1), nn.SiLU(inplace=True), nn.MaxPool2d(4),
            nn.Conv2d(first, second, 3, padding=1), nn.SiLU(inplace=True), nn.MaxPool2d(4),
        )
        hidden1, hidden2 = config.regression_hidden
        self.dense = nn.Sequential(
            nn.Linear(flat, hidden1), nn.ReLU(inplace=True),
            nn.Linear(hidden1, hidden2), nn.ReLU(inplace=True),
            nn.Linear(hidden2, config.num_values), nn.Sigmoid(),
        )

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.flatten(self.features(probabilities), 1))


class MBNet(nn.Module):
    """MBNet = :class:`BiLuNet` + :class:`InspectionValueRegressor` on its softmax.

    ``forward(x)``: ``x`` is ``(N, in_channels, *image_size)`` in [0, 1];
    returns ``(segmentation, inspection_values)`` (:data:`OUTPUT_NAMES`):
    probabilities ``(N, num_classes, H, W)`` and ``(N, num_values)`` scaled
    values in :data:`INSPECTION_VALUE_NAMES` order. :meth:`logits_and_values`
    returns the segmentation scores before the softmax instead (training).

    Raises:
        InputError: wrong rank, channel count or image size.
    """

    input_names: tuple[str, ...] = ("image",)
    output_names: tuple[str, ...] = OUTPUT_NAMES

    def __init__(self, config: MBNetConfig) -> None:
        super().__init__()
        if len(config.image_size) != 2 or any(size % SIZE_MULTIPLE for size in config.image_size):
            raise InputError(f"MBNet: image_size {config.image_size} must be (H, W), multiples of {SIZE_MULTIPLE}")
        self.config = config
        self.segmentation = BiLuNet(config)
        self.regression = InspectionValueRegressor(config)

    def example_inputs(self, batch_size: int = 1) -> tuple[torch.Tensor]:
        """Random inputs ``((batch_size, in_channels, *image_size),)`` in [0, 1] on the model's device."""
        device = next(self.parameters()).device
        return (torch.rand(batch_size, self.config.in_channels, *self.config.image_size, device=device),)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputError` unless ``x`` is ``(N, in_channels, *image_size)``."""
        require_shape(x, (None, self.config.in_channels, *self.config.image_size), "input", "MBNet")

    def logits_and_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(segmentation logits, inspection values)``; the values are computed from the softmax."""
        self.check_input(x)
        logits = self.segmentation.logits(x)
        return logits, self.regression(channel_softmax(logits))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_input(x)
        probabilities = self.segmentation(x)
        return probabilities, self.regression(probabilities)


def mbnet_config(preset: str = "full", **overrides: Any) -> MBNetConfig:
    """The :class:`MBNetConfig` of ``preset`` with ``overrides`` applied.

    Raises:
        InputError: unknown preset or field.
    """
    return apply_overrides(select_preset(MBNET_PRESETS, preset, "MBNet"), overrides)


def build_mbnet(preset: str = "full", **overrides: Any) -> MBNet:
    """MBNet (registry name ``mbnet``)."""
    return MBNet(mbnet_config(preset, **overrides))
