"""One MR training scan on the training grid: which grid, the scan and its labels prepared as the pipeline does.

:func:`prepare_training_volume` runs the pipeline's own preprocessing
(:meth:`spine_rt.pipelines.spine_mr.preprocessing.MrPreprocessing.prepare`: reorient to
the model axes, resample linearly to the model spacing, crop in-plane to the
non-zero extent, clip to the 0.5/99.5 percentiles and z-score over the
non-zero voxels, pad with background) and sends the label map through the
same grid transform (nearest), crop and padding. Training therefore sees the
very arrays that inference will feed the networks.

**Labels at stage one's resolution.** Label maps at stage one's resolution: the majority label of
each ``f x f`` in-plane block.

The pipeline gives stage one the block mean of ``f x f`` full-resolution
voxels (:func:`spine_rt.pipelines.schedules.sampling.downsample_in_plane`);
the matching training target is the most frequent label in the same block
(ties go to the smaller id).

**The training grid.** Which grid the MR networks are trained on: ``--spacing model | native |
X,Y,Z``.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.label_maps import check_label_ids
from spine_rt.errors import InputError
from spine_rt.io import GridTransform, Image, MR_MODEL_AXES
from spine_rt.pipelines.schedules.sampling import downsample_in_plane
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing


@dataclass(frozen=True, eq=False)
class TrainingVolume:
    """A prepared scan.

    Attributes:
        name: the scan's name (file stem or ``phantom_N``).
        image: ``(X, Y, Z)`` float32, normalised; ``X, Y`` in-plane (S->I, A->P), ``Z`` sagittal slices.
        labels: ``(X, Y, Z)`` uint8 class ids on the same grid, or None (unlabelled scan).
    """

    name: str
    image: np.ndarray
    labels: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.image.shape)  # type: ignore[return-value]

    def at_stage_one_resolution(self, factor: int) -> TrainingVolume:
        """The scan on stage one's grid: image block mean, labels block majority (``(X/f, Y/f, Z)``)."""
        labels = None if self.labels is None else downsample_labels_in_plane(self.labels, factor)
        return TrainingVolume(self.name, downsample_in_plane(self.image, factor), labels)


def prepare_training_volume(
    name: str,
    image: Image,
    labels: Image | np.ndarray | None,
    preprocessing: MrPreprocessing,
    label_map: Mapping[int, str],
    size_multiple: Sequence[int],
    minimum_shape: Sequence[int] = (1, 1, 1),
    label_table: np.ndarray | None = None,
) -> TrainingVolume:
    """Prepare ``image`` (and its labels) for training.

    Args:
        name: the scan's name.
        image: the scan.
        labels: its label map on the same grid (an :class:`Image` or a bare
            array of ``image.shape``), or None.
        preprocessing: spacing, axes and normalisation.
        label_map: the ids the labels may hold.
        size_multiple / minimum_shape: padding of the prepared volume (as the
            pipeline's schedule asks: in-plane multiples of ``4 f``, at least one patch).
        label_table: optional lookup ``table[source_id] -> class id`` applied first
            (phantoms trained on a user's label set).

    Raises:
        InputError: labels on another grid, labels with ids outside ``label_map``,
            or an image without any non-zero voxel.
    """
    label_array = None
    if labels is not None:
        where = str(labels.source) if isinstance(labels, Image) and labels.source is not None else f"{name} labels"
        if isinstance(labels, Image):
            if labels.shape != image.shape or not np.allclose(labels.affine, image.affine, rtol=0, atol=1e-3):
                raise InputError(f"{where}: the label map's grid {labels.shape} does not match its image's {image.shape}")
            label_array = labels.array
        else:
            label_array = np.asarray(labels)
            if label_array.shape != image.shape:
                raise InputError(f"{where}: labels of shape {label_array.shape} do not match the image's {image.shape}")
        if label_table is not None:
            label_array = label_table[np.asarray(label_array, np.int64)]
        check_label_ids(label_array, label_map, where)
        label_array = np.asarray(label_array).astype(np.uint8 if max(label_map) < 256 else np.uint16)
    prepared = preprocessing.prepare(image, size_multiple, minimum_shape)
    prepared_labels = None
    if label_array is not None:
        on_grid = prepared.grid.forward_array(label_array, "nearest")
        prepared_labels = np.ascontiguousarray(prepared.padding.pad(prepared.crop.crop(on_grid), 0))
    return TrainingVolume(name, prepared.volume, prepared_labels)


# -- labels at stage one's resolution ----------------------------------------------------------------

def downsample_labels_in_plane(labels: np.ndarray, factor: int) -> np.ndarray:
    """``(X, Y, Z)`` labels -> ``(X/f, Y/f, Z)`` uint8/uint16 majority labels.

    ``X`` and ``Y`` must be multiples of ``factor``.
    """
    if factor == 1:
        return labels
    size_x, size_y, size_z = labels.shape
    blocks = labels.reshape(size_x // factor, factor, size_y // factor, factor, size_z)
    best = np.zeros((size_x // factor, size_y // factor, size_z), labels.dtype)
    best_count = np.zeros(best.shape, np.int16)
    for class_id in np.unique(labels):
        count = (blocks == class_id).sum(axis=(1, 3), dtype=np.int16)
        better = count > best_count
        best[better] = class_id
        best_count[better] = count[better]
    return best


# -- the training grid -------------------------------------------------------------------------------

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
