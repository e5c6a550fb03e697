"""One MR training scan on the model grid, prepared exactly as the pipeline prepares a scan.

:func:`prepare_training_volume` runs the pipeline's own preprocessing
(:meth:`spine_rt.pipelines.preprocessing.MrPreprocessing.prepare`: reorient to
the model axes, resample linearly to the model spacing, crop in-plane to the
non-zero extent, clip to the 0.5/99.5 percentiles and z-score over the
non-zero voxels, pad with background) and sends the label map through the
same grid transform (nearest), crop and padding. Training therefore sees the
very arrays that inference will feed the networks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.pipelines.in_plane_sampling import downsample_in_plane
from spine_rt.pipelines.preprocessing import MrPreprocessing
from spine_rt.train.label_downsampling import downsample_labels_in_plane
from spine_rt.anatomy.label_maps import check_label_ids


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
