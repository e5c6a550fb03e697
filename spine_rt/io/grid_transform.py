"""The model-grid transform: reorient + resample forward, and its exact inverse.

A :class:`GridTransform` is fitted to one input image and a model's axis
order and spacing. It records everything about the input grid it needs, so
whatever comes back from the model grid (labels or probabilities) lands on
exactly the input's shape and affine::

    grid = GridTransform.to_model(image, axes=MR_MODEL_AXES, spacing=(0.69, 0.69, 4.4))
    model_image = grid.forward(image)                 # linear
    labels = run_model(model_image.array)             # (I', J', K') on the model grid
    seg = grid.inverse(labels)                        # Image: image.shape, image.affine
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io.image import AxisCodes, Image, orientation_codes, voxel_spacing
from spine_rt.io.orientation import AxisReorientation, parse_axis_codes
from spine_rt.io.resample import Interpolation, SpacingResample, default_interpolation, parse_interpolation


@dataclass(frozen=True, eq=False)
class GridTransform:
    """Maps arrays between an input image's grid and a model's grid.

    Forward: permute/flip voxel axes to the model's axis codes (exact), then
    resample to the model's spacing (linear for images, nearest for labels).
    Inverse: resample back to the reoriented input grid, then undo the
    permutation/flip. The inverse always returns arrays of exactly the
    input's shape, placed by exactly the input's affine.

    Attributes:
        source_shape: the input's ``(I, J, K)``.
        source_affine: the input's affine (a private copy).
        source_header: the input's header, handed on to inverse images.
        source_path: the input's file or folder, or None.
        reorientation: the exact axis permutation/flip.
        resample: the resample of the reoriented grid to the model spacing.
    """

    source_shape: tuple[int, int, int]
    source_affine: np.ndarray
    source_header: Any
    source_path: Path | None
    reorientation: AxisReorientation
    resample: SpacingResample

    @classmethod
    def to_model(
        cls, image: Image, axes: Sequence[str] | str, spacing: Sequence[float] | None = None
    ) -> GridTransform:
        """Fit the transform from ``image``'s grid to a model's grid.

        Args:
            image: the input.
            axes: the model's axis codes, e.g. :data:`MR_MODEL_AXES` ``('I', 'P', 'R')``.
            spacing: the model's spacing in mm along its axes ``(I', J', K')``;
                None keeps the input's spacing (reorientation only, exact).

        Raises:
            InputError: bad axis codes or spacing.
        """
        reorientation = AxisReorientation.between(image.affine, image.shape, parse_axis_codes(axes))
        reoriented_spacing = voxel_spacing(reorientation.apply_affine(image.affine))
        target_spacing = reoriented_spacing if spacing is None else spacing
        resample = SpacingResample.to_spacing(reorientation.target_shape, reoriented_spacing, target_spacing)
        return cls(
            source_shape=image.shape,
            source_affine=image.affine.copy(),
            source_header=image.header,
            source_path=image.source,
            reorientation=reorientation,
            resample=resample,
        )

    # --- the model grid -------------------------------------------------------------------------

    @property
    def target_shape(self) -> tuple[int, int, int]:
        """The model grid's ``(I', J', K')``."""
        return self.resample.target_shape

    @property
    def target_affine(self) -> np.ndarray:
        """The model grid's affine (voxel centre -> RAS+ mm)."""
        return self.resample.apply_affine(self.reorientation.apply_affine(self.source_affine))

    @property
    def target_spacing(self) -> tuple[float, float, float]:
        """mm per voxel along ``(I', J', K')``."""
        return voxel_spacing(self.target_affine)

    @property
    def target_axes(self) -> AxisCodes:
        """The model grid's orientation codes (the axis codes it was fitted with)."""
        return orientation_codes(self.target_affine)

    @property
    def is_identity(self) -> bool:
        """True when the input already is on the model grid."""
        return self.reorientation.is_identity and self.resample.is_identity

    # --- forward ----------------------------------------------------------------------------------

    def forward(self, image: Image, interpolation: Interpolation = "linear") -> Image:
        """``image`` (on the fitted input grid) resampled onto the model grid.

        Use ``interpolation='nearest'`` for label maps.

        Raises:
            InputError: ``image`` is not on the grid this transform was fitted to.
        """
        if image.shape != self.source_shape or not np.allclose(image.affine, self.source_affine, rtol=0, atol=1e-4):
            raise InputError(
                f"image {image.shape} is not on the grid this transform was fitted to {self.source_shape}"
            )
        return Image(
            self.forward_array(image.array, interpolation),
            self.target_affine,
            source=image.source,
            header=image.header,
            meta={**image.meta, "grid": "model"},
        )

    def forward_array(self, values: np.ndarray, interpolation: Interpolation = "linear") -> np.ndarray:
        """``(..., I, J, K)`` on the input grid -> ``(..., I', J', K')`` on the model grid."""
        values = np.asarray(values)
        if values.ndim < 3 or values.shape[-3:] != self.source_shape:
            raise InputError(f"expected an array of shape (..., {self.source_shape}), got {values.shape}")
        reoriented = self.reorientation.apply(values)
        return self.resample.apply(reoriented, parse_interpolation(interpolation))

    # --- inverse ----------------------------------------------------------------------------------

    def inverse(self, values: np.ndarray | Image, interpolation: Interpolation | None = None) -> Image:
        """A 3D array on the model grid (labels or one channel) sent back to the input grid.

        Args:
            values: ``(I', J', K')`` array, or an :class:`Image` on the model grid.
            interpolation: None picks ``'nearest'`` for integer/bool arrays
                (labels) and ``'linear'`` for floats.

        Returns:
            an :class:`Image` with exactly the input's shape and affine (hence
            orientation) and the input's header; ``source`` is None.

        Raises:
            InputError: ``values`` is not on the model grid.
        """
        array = values.array if isinstance(values, Image) else np.asarray(values)
        if array.ndim != 3:
            raise InputError(f"inverse needs a 3D array {self.target_shape}, got shape {array.shape}")
        return Image(
            self.inverse_array(array, interpolation),
            self.source_affine.copy(),
            source=None,
            header=self.source_header,
            meta={"grid": "input", "derived_from": str(self.source_path) if self.source_path else None},
        )

    def inverse_array(self, values: np.ndarray, interpolation: Interpolation | None = None) -> np.ndarray:
        """``(..., I', J', K')`` on the model grid -> ``(..., I, J, K)`` on the input grid.

        Leading axes (e.g. class channels of probabilities ``(C, I', J', K')``)
        are kept. None picks ``'nearest'`` for integer/bool arrays, ``'linear'``
        for floats. The result is a new contiguous array.
        """
        values = np.asarray(values)
        if values.ndim < 3 or values.shape[-3:] != self.target_shape:
            raise InputError(f"expected an array of shape (..., {self.target_shape}), got {values.shape}")
        chosen = default_interpolation(values) if interpolation is None else parse_interpolation(interpolation)
        back = self.reorientation.undo(self.resample.undo(values, chosen))
        return np.ascontiguousarray(back)

    def __repr__(self) -> str:
        spacing = ", ".join(f"{s:.4g}" for s in self.target_spacing)
        return f"GridTransform({self.source_shape} -> {self.target_shape}, spacing ({spacing}) mm)"

