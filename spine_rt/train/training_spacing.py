"""Which grid the MR networks are trained on: ``--spacing model | native | X,Y,Z``.

The spacing names stage two's (full-resolution) voxel size along the model
axes ``(X, Y, Z)`` = (superior->inferior, anterior->posterior, sagittal
slices), in mm. Stage one trains on the same grid coarsened in-plane by the
resolution factor ``f`` (2): exactly the input the pipeline gives it
(block mean of ``f x f`` voxels).

* ``model``: SEEDS' grid, 0.3448 x 0.3448 x 4.4 mm (stage one 0.6897 mm).
* ``native``: the first training scan's own voxel size after reorientation
  (no resampling for scans that share it, e.g. the 1 mm MR of
  ``../shared/data/mr3d``; stage one then works at 2 mm in-plane).
* ``X,Y,Z``: any voxel size in mm, e.g. ``1,1,4``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from spine_rt.errors import InputError
from spine_rt.io import MR_MODEL_AXES, GridTransform, Image
from spine_rt.pipelines.preprocessing import MrPreprocessing

SPACING_CHOICES: tuple[str, ...] = ("model", "native")
DEFAULT_RESOLUTION_FACTOR = 2


def parse_spacing(spec: str | Sequence[float] | None) -> str | tuple[float, float, float]:
    """``"model"``, ``"native"`` or three positive mm values (``"1,1,4"`` or a sequence).

    Raises:
        InputError: anything else (the message lists the valid forms).
    """
    if spec is None:
        return "model"
    if isinstance(spec, str):
        word = spec.strip().lower()
        if word in SPACING_CHOICES:
            return word
        items: Sequence[object] = [part for part in word.replace("x", ",").split(",") if part]
    else:
        items = list(spec)
    try:
        values = tuple(float(v) for v in items)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"spacing must be 'model', 'native' or three positive mm values X,Y,Z, got {spec!r}")
    return values  # type: ignore[return-value]


def native_spacing(image: Image) -> tuple[float, float, float]:
    """``image``'s voxel size along the model axes (after reorientation), mm."""
    return GridTransform.to_model(image, MR_MODEL_AXES, None).target_spacing


def training_preprocessing(
    spec: str | Sequence[float] | None,
    first_image: Image | None = None,
    resolution_factor: int = DEFAULT_RESOLUTION_FACTOR,
) -> MrPreprocessing:
    """The :class:`MrPreprocessing` (axes, both stages' spacings, intensity) to train with.

    Args:
        spec: see :func:`parse_spacing`.
        first_image: the first training scan (needed for ``native``).
        resolution_factor: stage two voxels per stage one voxel in-plane.

    Raises:
        InputError: a bad spec or factor, or ``native`` without a scan.
    """
    if isinstance(resolution_factor, bool) or not isinstance(resolution_factor, int) or resolution_factor < 1:
        raise InputError(f"the stage-one resolution factor must be a positive integer, got {resolution_factor!r}")
    spacing = parse_spacing(spec)
    if spacing == "model" and resolution_factor == DEFAULT_RESOLUTION_FACTOR:
        return MrPreprocessing()
    if spacing == "model":
        spacing = MrPreprocessing().spacing_mm
    elif spacing == "native":
        if first_image is None:
            raise InputError("spacing 'native' needs a training scan to read the spacing from")
        spacing = tuple(round(s, 6) for s in native_spacing(first_image))  # type: ignore[assignment]
    x, y, z = spacing  # type: ignore[misc]
    return MrPreprocessing(
        axes=MR_MODEL_AXES,
        spacing_mm=(x, y, z),
        stage_one_spacing_mm=(x * resolution_factor, y * resolution_factor, z),
    )


def preprocessing_record(preprocessing: MrPreprocessing) -> dict:
    """The preprocessing as a checkpoint/manifest entry (the exporter's schema; read back by
    :meth:`MrPreprocessing.from_manifest`)."""
    return {
        "axes": list(preprocessing.axes),
        "spacing_mm": {
            "stage1": [float(s) for s in preprocessing.stage_one_spacing_mm],
            "stage2": [float(s) for s in preprocessing.spacing_mm],
        },
        "resolution_factor": preprocessing.resolution_factor,
        "intensity": {
            "clip_percentiles": [float(p) for p in preprocessing.clip_percentiles],
            "normalization": "zscore",
            "statistics_over": "nonzero",
            "background_value": 0.0,
        },
        "crop": "in-plane axes to the non-zero extent",
    }
