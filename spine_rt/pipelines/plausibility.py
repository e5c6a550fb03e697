"""Is this a spine scan the model can segment? Refuse what cannot be one, warn on what is unusual.

The numbers are the scan's own (voxel size and field of view in mm, from
the affine) against the model's grid (stage two's spacing in the manifest):

* **refused** (:class:`~spine_rt.errors.InputError`, the numbers in the
  message): a voxel size more than :data:`COARSE_FACTOR` times the model's
  coarsest or less than 1/:data:`FINE_FACTOR` of its finest, a field of
  view under :data:`MIN_FOV_MM` mm on its longest side or over
  :data:`MAX_FOV_MM` mm on any side (no human spine), more than
  :data:`MAX_MODEL_VOXELS` voxels on the model's grid (which bounds memory
  by the model grid, not by the input's size);
* **warned** (a line in the report's ``input.warnings``, printed by the
  command line): a longest side under :data:`SHORT_FOV_MM` mm (less than a
  lumbar spine), a voxel size outside 1/:data:`UNUSUAL_FACTOR`..:data:`UNUSUAL_FACTOR` times the model's (sides
  compared in sorted order, whatever the orientation), fewer than
  :data:`FEW_SLICES` voxels along an axis.

X-ray pictures: refused under :data:`MIN_XRAY_PIXELS` pixels on a side or,
with a known pixel spacing, outside :data:`MIN_FOV_MM`..:data:`MAX_FOV_MM`
mm; warned under :data:`SMALL_XRAY_PIXELS` pixels on a side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from spine_rt.errors import InputError

COARSE_FACTOR = 10.0
FINE_FACTOR = 50.0
MIN_FOV_MM = 20.0
MAX_FOV_MM = 2500.0
SHORT_FOV_MM = 60.0
FEW_SLICES = 5
UNUSUAL_FACTOR = 5.0
MAX_MODEL_VOXELS = 2**27
MIN_XRAY_PIXELS = 32
SMALL_XRAY_PIXELS = 128


def _shown(values: Sequence[float], unit: str = "") -> str:
    return " x ".join(f"{v:.4g}" for v in values) + unit


def check_mr_geometry(shape: Sequence[int], spacing_mm: Sequence[float],
                      model_spacing_mm: Sequence[float]) -> list[str]:
    """Refuse a spine MR geometry the model cannot segment; return warnings for unusual ones.

    Args:
        shape: the scan's voxel grid ``(I, J, K)``.
        spacing_mm: its voxel size along ``(I, J, K)`` in mm.
        model_spacing_mm: stage two's voxel size (any axis order).

    Returns:
        one line per unusual property (empty: nothing unusual).

    Raises:
        InputError: an implausible voxel size, field of view or model-grid size, with the numbers.
    """
    spacing = [float(s) for s in spacing_mm]
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise InputError(f"voxel size {_shown(spacing, ' mm')}: every side must be a positive number of mm")
    finest, coarsest = min(model_spacing_mm), max(model_spacing_mm)
    fov = [n * s for n, s in zip(shape, spacing)]
    what = f"scan of {_shown(shape)} voxels of {_shown(spacing, ' mm')} (field of view {_shown(fov, ' mm')})"
    if max(spacing) > COARSE_FACTOR * coarsest:
        raise InputError(f"{what}: voxels of {max(spacing):.4g} mm are far coarser than the model's "
                         f"{_shown(model_spacing_mm, ' mm')}; not a scan this model can segment")
    if min(spacing) < finest / FINE_FACTOR:
        raise InputError(f"{what}: voxels of {min(spacing):.4g} mm are far finer than the model's "
                         f"{_shown(model_spacing_mm, ' mm')}; is the voxel size in the header right?")
    if max(fov) < MIN_FOV_MM:
        raise InputError(f"{what}: a field of view under {MIN_FOV_MM:g} mm cannot hold a spine")
    if max(fov) > MAX_FOV_MM:
        raise InputError(f"{what}: a field of view over {MAX_FOV_MM:g} mm is no human spine; "
                         "is the voxel size in the header right?")
    # the longest sides meet the finest model spacings: an upper bound whatever the orientation
    model_voxels = math.prod(max(1.0, f / m) for f, m in zip(sorted(fov, reverse=True), sorted(model_spacing_mm)))
    if model_voxels > MAX_MODEL_VOXELS:
        raise InputError(f"{what}: up to {model_voxels:.3g} voxels on the model's grid, more than "
                         f"{MAX_MODEL_VOXELS:.3g}; crop the scan to the spine")
    warnings = []
    if max(fov) < SHORT_FOV_MM:
        warnings.append(f"{what}: the field of view is shorter than a lumbar spine ({SHORT_FOV_MM:g} mm)")
    ratios = [mine / model for mine, model in zip(sorted(spacing), sorted(model_spacing_mm))]
    if max(ratios) > UNUSUAL_FACTOR or min(ratios) < 1 / UNUSUAL_FACTOR:
        warnings.append(f"{what}: the voxel size is far from the model's {_shown(model_spacing_mm, ' mm')}; "
                        "expect poorer labels")
    few = [axis for axis, n in enumerate(shape) if n < FEW_SLICES]
    if few:
        warnings.append(f"{what}: fewer than {FEW_SLICES} voxels along axis {', '.join(map(str, few))}")
    return warnings


def check_xray_geometry(shape: Sequence[int], pixel_spacing_mm: Sequence[float] | None) -> list[str]:
    """Refuse an X-ray picture that cannot show a lumbar spine; return warnings for unusual ones.

    Args:
        shape: ``(H, W)`` pixels.
        pixel_spacing_mm: ``(row, column)`` mm, or None when unknown.

    Raises:
        InputError: too few pixels, or (with a spacing) a field of view no spine fits or no body has.
    """
    if min(shape) < MIN_XRAY_PIXELS:
        raise InputError(f"an X-ray of {_shown(shape)} pixels: under {MIN_XRAY_PIXELS} pixels on a side "
                         "cannot show a lumbar spine")
    warnings = []
    if pixel_spacing_mm is not None:
        fov = [n * s for n, s in zip(shape, pixel_spacing_mm)]
        if max(fov) < MIN_FOV_MM or max(fov) > MAX_FOV_MM:
            raise InputError(f"an X-ray of {_shown(shape)} pixels of {_shown(pixel_spacing_mm, ' mm')} covers "
                             f"{_shown(fov, ' mm')}: outside {MIN_FOV_MM:g}..{MAX_FOV_MM:g} mm, no lumbar spine "
                             "picture; is the pixel spacing right?")
    if min(shape) < SMALL_XRAY_PIXELS:
        warnings.append(f"an X-ray of {_shown(shape)} pixels: under {SMALL_XRAY_PIXELS} pixels on a side, "
                        "expect poor labels and measurements")
    return warnings
