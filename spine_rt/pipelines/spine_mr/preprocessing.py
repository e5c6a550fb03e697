"""SSHSNet's MR preprocessing from the manifest, and its exact inverse.

Forward (:meth:`MrPreprocessing.prepare`), for an input :class:`~spine_rt.io.Image`:

1. reorient to the model's axes and resample to stage two's spacing
   (:class:`~spine_rt.io.GridTransform`, linear): array ``(X, Y, Z)`` =
   (superior->inferior, anterior->posterior, left->right), 0.3448 x 0.3448 x 4.4 mm;
2. crop the in-plane axes to the non-zero extent (:class:`CropBox`, recorded);
3. clip to the 0.5/99.5 percentiles and z-score over the non-zero voxels,
   background stays 0;
4. pad with background so the volume tiles the stage-one grids and holds at
   least one stage-two patch (:class:`VolumePadding`, recorded).

Inverse (:meth:`PreparedVolume.labels_to_input`): unpad, uncrop with
background, resample back (nearest for labels) and undo the reorientation:
the result has exactly the input's shape and lies on its affine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io import MR_MODEL_AXES, GridTransform, Image, parse_axis_codes
from spine_rt.io.image import AxisCodes
from spine_rt.pipelines.spine_mr.body_crop import CropBox
from spine_rt.pipelines.schedules.maps import STAGE_ONE_UPSAMPLINGS
from spine_rt.pipelines.spine_mr.intensity_normalization import IntensityStatistics, normalize_intensity
from spine_rt.pipelines.spine_mr.volume_padding import VolumePadding

#: SEEDS.md: stage two's spacing (mm) along the model axes (X, Y, Z)
STAGE_TWO_SPACING_MM: tuple[float, float, float] = (0.3448, 0.3448, 4.4)
#: SEEDS.md: stage one works at half stage two's in-plane resolution
STAGE_ONE_SPACING_MM: tuple[float, float, float] = (0.6897, 0.6897, 4.4)
CLIP_PERCENTILES: tuple[float, float] = (0.5, 99.5)
#: in-plane axes cropped to the non-zero extent (X and Y; slices are never cropped)
CROP_AXES: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class MrPreprocessing:
    """The numbers of SSHSNet's preprocessing (defaults: SEEDS.md).

    Attributes:
        axes: model axis codes, ``('I', 'P', 'R')``.
        spacing_mm: stage two's voxel size along ``(X, Y, Z)``.
        stage_one_spacing_mm: stage one's voxel size; its in-plane spacing must
            be a whole multiple ``f`` of stage two's (``f = 2``).
        clip_percentiles: percentiles of the non-zero voxels to clip to.
        crop_axes: axes cropped to the non-zero extent.
        stage_one_upsampling: how stage one's maps reach stage two's grids in
            the reference schedule: ``"linear"`` (spine-rt) or ``"authors"``
            (packages from the SSHSNet authors' checkpoints; see
            :mod:`~spine_rt.pipelines.schedules.maps`).
    """

    axes: AxisCodes = MR_MODEL_AXES
    spacing_mm: tuple[float, float, float] = STAGE_TWO_SPACING_MM
    stage_one_spacing_mm: tuple[float, float, float] = STAGE_ONE_SPACING_MM
    clip_percentiles: tuple[float, float] = CLIP_PERCENTILES
    crop_axes: tuple[int, ...] = CROP_AXES
    stage_one_upsampling: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", parse_axis_codes(self.axes))
        if self.stage_one_upsampling not in STAGE_ONE_UPSAMPLINGS:
            raise InputError(f"unknown stage_one_upsampling {self.stage_one_upsampling!r}; "
                             f"valid: {', '.join(STAGE_ONE_UPSAMPLINGS)}")
        self.resolution_factor  # validates the spacings

    @classmethod
    def from_manifest(cls, preprocessing: Mapping[str, Any]) -> MrPreprocessing:
        """Read the ``preprocessing`` entry of a spine MR manifest (missing entries keep the defaults).

        Raises:
            InputError: malformed axes, spacings or percentiles.
        """
        try:
            spacing = preprocessing.get("spacing_mm", {})
            intensity = preprocessing.get("intensity", {})
            if intensity.get("normalization", "zscore") != "zscore":
                raise InputError(
                    f"unsupported normalization {intensity['normalization']!r} (this pipeline does zscore)"
                )
            return cls(
                axes=tuple(preprocessing.get("axes", MR_MODEL_AXES)),
                spacing_mm=_triple(spacing.get("stage2", STAGE_TWO_SPACING_MM), "stage2 spacing"),
                stage_one_spacing_mm=_triple(spacing.get("stage1", STAGE_ONE_SPACING_MM), "stage1 spacing"),
                clip_percentiles=tuple(float(p) for p in intensity.get("clip_percentiles", CLIP_PERCENTILES)),
                stage_one_upsampling=str(preprocessing.get("stage_one_upsampling", "linear")),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"the manifest's preprocessing entry is malformed: {exc}") from None

    @property
    def resolution_factor(self) -> int:
        """``f``: stage two voxels per stage one voxel in-plane (2 for SSHSNet)."""
        ratios = [one / two for one, two in zip(self.stage_one_spacing_mm[:2], self.spacing_mm[:2])]
        factor = round(ratios[0])
        if factor < 1 or any(abs(r - factor) > 0.01 * factor for r in ratios):
            raise InputError(
                f"stage one's in-plane spacing {self.stage_one_spacing_mm[:2]} mm must be a whole multiple of "
                f"stage two's {self.spacing_mm[:2]} mm"
            )
        if abs(self.stage_one_spacing_mm[2] - self.spacing_mm[2]) > 1e-3 * self.spacing_mm[2]:
            raise InputError("stage one and stage two must share the slice spacing")
        return factor

    @property
    def stage_one_grid_spacing_mm(self) -> tuple[float, float, float]:
        """The spacing of stage one's grid as the pipeline builds it (``f`` x stage two's in-plane)."""
        f = self.resolution_factor
        return (self.spacing_mm[0] * f, self.spacing_mm[1] * f, self.spacing_mm[2])

    def prepare(self, image: Image, size_multiple: Sequence[int], minimum_shape: Sequence[int]) -> PreparedVolume:
        """Steps 1-4 of the module docstring.

        Args:
            image: the input scan.
            size_multiple: per axis, the padded size is a multiple of this.
            minimum_shape: per axis, the padded size is at least this (the stage-two patch).

        Raises:
            InputError: the image has no non-zero voxel.
        """
        grid = GridTransform.to_model(image, self.axes, self.spacing_mm)
        resampled = grid.forward_array(image.array.astype(np.float32, copy=False), "linear")
        crop = CropBox.nonzero_extent(resampled, self.crop_axes)
        normalized, statistics = normalize_intensity(crop.crop(resampled), self.clip_percentiles)
        padding = VolumePadding.to_fit(normalized.shape, size_multiple, minimum_shape)
        volume = np.ascontiguousarray(padding.pad(normalized, 0.0), dtype=np.float32)
        return PreparedVolume(volume, grid, crop, padding, statistics)


@dataclass(frozen=True, eq=False)
class PreparedVolume:
    """A scan on the model grid, ready for the networks, and the way back.

    Attributes:
        volume: ``(X, Y, Z)`` float32, normalised, cropped and padded.
        grid: input grid <-> full model grid (reorientation + resampling).
        crop: the in-plane crop box on the model grid.
        padding: the padding added after cropping.
        intensity: the normalisation numbers.
    """

    volume: np.ndarray
    grid: GridTransform
    crop: CropBox
    padding: VolumePadding
    intensity: IntensityStatistics

    def labels_to_input(self, labels: np.ndarray) -> np.ndarray:
        """``(X, Y, Z)`` labels on :attr:`volume`'s grid -> the input's ``(I, J, K)`` (nearest; background outside)."""
        on_model_grid = self.crop.uncrop(self.padding.unpad(labels), fill=0)
        return self.grid.inverse_array(on_model_grid, "nearest")

    def probabilities_to_input(self, probabilities: np.ndarray) -> np.ndarray:
        """``(C, X, Y, Z)`` probabilities -> ``(C, I, J, K)`` on the input grid (linear; background 1 outside)."""
        fill = np.zeros(probabilities.shape[0], np.float32)
        fill[0] = 1.0
        on_model_grid = self.crop.uncrop(self.padding.unpad(probabilities), fill=fill)
        return self.grid.inverse_array(on_model_grid, "linear")

    def describe(self) -> dict[str, Any]:
        """Plain facts for the report."""
        return {
            "model_grid_shape": list(self.grid.target_shape),
            "model_spacing_mm": [round(s, 6) for s in self.grid.target_spacing],
            "crop_box": {"start": list(self.crop.start), "stop": list(self.crop.stop)},
            "crop_rule": "in-plane axes (X, Y) cropped to the non-zero extent; slices kept",
            "padding": [list(w) for w in self.padding.widths],
            "network_volume_shape": list(self.volume.shape),
            "intensity": {
                "clip_low": self.intensity.clip_low,
                "clip_high": self.intensity.clip_high,
                "mean": self.intensity.mean,
                "std": self.intensity.std,
            },
        }


def _triple(value: Sequence[float], what: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"{what} must be three positive numbers in mm, got {value!r}")
    return values  # type: ignore[return-value]
