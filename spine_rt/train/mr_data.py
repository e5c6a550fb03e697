"""The MR training data of a recipe: scans from a folder or phantoms, split into training and validation.

Sources (one of the first two):

* a folder of ``NAME_image.nii.gz`` / ``NAME_label.nii.gz`` pairs
  (:mod:`spine_rt.train.mr_data`), with its ``labels.json`` when the
  folder holds one;
* ``phantoms=N`` synthetic scans (:mod:`spine_rt.train.mr_data`);
* optionally an unlabelled folder (cross pseudo supervision) and a
  validation folder.

Without a validation folder the last ``ceil(validation_fraction * n)``
scans in name order are held out for validation (at least one scan stays for
training; with a single scan, or fraction 0, validation runs on the
training scans and :attr:`MrTrainingData.validation_is_training` says so).

**Scans in a folder.** Finding training scans in a folder: ``NAME_image.nii.gz`` with
``NAME_label.nii.gz``.

A labelled folder holds pairs ``NAME_image.nii[.gz]`` / ``NAME_label.nii[.gz]``
(the layout of ``../shared/data/mr3d``); an unlabelled folder (for cross
pseudo supervision) holds images only: ``NAME_image.nii[.gz]`` or any other
NIfTI whose name does not end in ``_label``.

**Phantom scans.** Synthetic training scans: spine MR phantoms drawn directly on the training grid.

Each phantom (:func:`spine_rt.phantoms.spine_mr`) is generated at the model
spacing, so the preprocessing only reorients it (phantom axes ``(X, Y, Z)`` =
(L->R, S->I, A->P), codes ``R, I, P``; model axes ``I, P, R``). Its labels
are MRSpineSeg ids; with another label set they are mapped by structure name
(:func:`spine_rt.anatomy.label_maps.lookup_by_name`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spine_rt.anatomy.label_maps import label_map_from_checkpoint, load_label_map, lookup_by_name
from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.errors import InputError
from spine_rt.io import Image, read_image
from spine_rt.phantoms import spine_mr
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
from spine_rt.train.volumes import TrainingVolume, prepare_training_volume, training_preprocessing


logger = logging.getLogger(__name__)

DEFAULT_VALIDATION_FRACTION = 0.2
LABELS_FILE = "labels.json"


@dataclass(frozen=True, eq=False)
class MrTrainingData:
    """Prepared MR scans at full (stage-two) resolution.

    Attributes:
        training / validation / unlabelled: the scans (unlabelled ones have ``labels is None``).
        label_map: ``{id: name}``, ids ``0 .. K-1``.
        preprocessing: the grid and normalisation they were prepared with.
        validation_is_training: True when no scan could be held out and
            validation runs on the training scans.
        source: where the scans came from (for the checkpoint).
    """

    training: tuple[TrainingVolume, ...]
    validation: tuple[TrainingVolume, ...]
    unlabelled: tuple[TrainingVolume, ...]
    label_map: dict[int, str]
    preprocessing: MrPreprocessing
    validation_is_training: bool
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.label_map)

    def describe(self) -> dict:
        """Plain facts for the checkpoint and the training log."""
        return {
            "source": self.source,
            "training": [v.name for v in self.training],
            "validation": [v.name for v in self.validation],
            "unlabelled": [v.name for v in self.unlabelled],
            "validation_is_training": self.validation_is_training,
        }


def validation_count(count: int, fraction: float) -> int:
    """How many of ``count`` scans go to validation (the last ones in name order)."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"validation fraction must lie in [0, 1), got {fraction!r}")
    if count < 2 or fraction == 0.0:
        return 0
    return min(count - 1, max(1, math.ceil(fraction * count)))


def load_mr_training_data(
    data: str | Path | None = None,
    *,
    phantoms: int | None = None,
    unlabelled: str | Path | None = None,
    validation: str | Path | None = None,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    labels: str | Path | None = None,
    label_map: Mapping[int, str] | None = None,
    spacing: str | Sequence[float] | None = None,
    preprocessing: MrPreprocessing | None = None,
    resolution_factor: int = 2,
    minimum_shape: Sequence[int] = (1, 1, 1),
    phantom_seed: int = 0,
) -> MrTrainingData:
    """Read, check and prepare the MR scans of a recipe.

    Args:
        data: folder of image/label pairs (or None with ``phantoms``).
        phantoms: number of synthetic scans instead of ``data``.
        unlabelled: folder of unlabelled images (used by the CPS recipe).
        validation: folder of image/label pairs for validation.
        validation_fraction: share held out when ``validation`` is None.
        labels: ``labels.json``; default ``DATA/labels.json`` when present,
            else the 20 MRSpineSeg labels.
        label_map: ``{id: name}`` given directly (stage two: its stage one's labels); excludes ``labels``.
        spacing: ``"model"``, ``"native"`` or ``(X, Y, Z)`` mm (:mod:`spine_rt.train.volumes`).
        preprocessing: the complete preprocessing given directly (stage two: its stage
            one's); excludes ``spacing`` and ``resolution_factor``.
        resolution_factor: stage two voxels per stage one voxel in-plane.
        minimum_shape: every prepared scan is padded to at least this (the stage-two patch).
        phantom_seed: seed of the first phantom.

    Raises:
        InputError: no source or two, missing folders, unpaired files, labels
            outside the label map, unreadable scans (one line each).
    """
    if (data is None) == (phantoms is None):
        raise InputError("give either a data folder or a number of phantoms (not both, not neither)")
    if label_map is not None:
        if labels is not None:
            raise InputError("give a labels.json or a label map, not both")
        label_map = label_map_from_checkpoint({str(k): v for k, v in label_map.items()})
    else:
        if labels is None and data is not None and (Path(data) / LABELS_FILE).is_file():
            labels = Path(data) / LABELS_FILE
        label_map = load_label_map(labels, PHANTOM_LABELS)

    labelled: list[tuple[str, Image, Image]] = []
    label_table = None
    if data is not None:
        for pair in find_labelled_scans(data):
            labelled.append((pair.name, read_image(pair.image), read_image(pair.label)))  # type: ignore[arg-type]
        source = str(Path(data))
    first = labelled[0][1] if labelled else None
    if preprocessing is None:
        preprocessing = training_preprocessing(spacing, first, resolution_factor)
    if phantoms is not None:
        label_table = None if label_map == PHANTOM_LABELS else lookup_by_name(PHANTOM_LABELS, label_map)
        for scan in phantom_scans(phantoms, phantom_seed, preprocessing.spacing_mm):
            labelled.append((scan.name, scan.image, scan.labels))
        source = f"{phantoms} phantoms (seeds {phantom_seed}..{phantom_seed + phantoms - 1})"

    step = preprocessing.resolution_factor * 4
    multiple = (step, step, 1)

    def prepare(name: str, image: Image, label_image: Image | None) -> TrainingVolume:
        return prepare_training_volume(name, image, label_image, preprocessing, label_map, multiple,
                                       minimum_shape, label_table if label_image is not None else None)

    validation_volumes: list[TrainingVolume] = []
    if validation is not None:
        for pair in find_labelled_scans(validation):
            validation_volumes.append(prepare(pair.name, read_image(pair.image), read_image(pair.label)))  # type: ignore[arg-type]
        held_out = 0
    else:
        held_out = validation_count(len(labelled), validation_fraction)
    keep = len(labelled) - held_out
    training_volumes = [prepare(*scan) for scan in labelled[:keep]]
    validation_volumes += [prepare(*scan) for scan in labelled[keep:]]
    validation_is_training = not validation_volumes
    if validation_is_training:
        logger.warning("no scan held out for validation: validation Dice is measured on the training scans")
    unlabelled_volumes = []
    if unlabelled is not None:
        for pair in find_unlabelled_scans(unlabelled):
            unlabelled_volumes.append(prepare(pair.name, read_image(pair.image), None))
    return MrTrainingData(
        training=tuple(training_volumes),
        validation=tuple(validation_volumes) if validation_volumes else tuple(training_volumes),
        unlabelled=tuple(unlabelled_volumes),
        label_map=label_map,
        preprocessing=preprocessing,
        validation_is_training=validation_is_training,
        source=source,
    )


# -- scans in a folder -------------------------------------------------------------------------------

IMAGE_SUFFIX = "_image"
LABEL_SUFFIX = "_label"
NIFTI_EXTENSIONS = (".nii.gz", ".nii")


@dataclass(frozen=True)
class ScanPair:
    """One training scan: its name, image file and label file (None for unlabelled scans)."""

    name: str
    image: Path
    label: Path | None


def _stem(path: Path) -> str | None:
    for extension in NIFTI_EXTENSIONS:
        if path.name.endswith(extension):
            return path.name[: -len(extension)]
    return None


def _nifti_files(folder: str | Path, what: str) -> list[tuple[str, Path]]:
    directory = Path(folder)
    if not directory.is_dir():
        raise InputError(f"{what} folder not found: {directory}")
    found = []
    for path in sorted(directory.iterdir()):
        stem = _stem(path)
        if stem is not None and path.is_file():
            found.append((stem, path))
    return found


def find_labelled_scans(folder: str | Path) -> list[ScanPair]:
    """Every ``NAME_image`` / ``NAME_label`` NIfTI pair of ``folder``, sorted by name.

    Raises:
        InputError: the folder is missing or holds no pair, an image has no
            label file or a label file no image (the message names the file).
    """
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for stem, path in _nifti_files(folder, "training data"):
        if stem.endswith(IMAGE_SUFFIX):
            images[stem[: -len(IMAGE_SUFFIX)]] = path
        elif stem.endswith(LABEL_SUFFIX):
            labels[stem[: -len(LABEL_SUFFIX)]] = path
    for name, image in images.items():
        if name not in labels:
            raise InputError(f"{image} has no label file {name}{LABEL_SUFFIX}.nii.gz beside it")
    for name, label in labels.items():
        if name not in images:
            raise InputError(f"{label} has no image file {name}{IMAGE_SUFFIX}.nii.gz beside it")
    if not images:
        raise InputError(f"{folder}: no NAME{IMAGE_SUFFIX}.nii.gz / NAME{LABEL_SUFFIX}.nii.gz pairs found")
    return [ScanPair(name, images[name], labels[name]) for name in sorted(images)]


def find_unlabelled_scans(folder: str | Path) -> list[ScanPair]:
    """Every NIfTI image of ``folder`` not named ``*_label``, sorted by name.

    Raises:
        InputError: the folder is missing or holds no image.
    """
    scans = []
    for stem, path in _nifti_files(folder, "unlabelled data"):
        if stem.endswith(LABEL_SUFFIX):
            continue
        name = stem[: -len(IMAGE_SUFFIX)] if stem.endswith(IMAGE_SUFFIX) else stem
        scans.append(ScanPair(name, path, None))
    if not scans:
        raise InputError(f"{folder}: no NIfTI images found")
    return scans


# -- phantom scans -----------------------------------------------------------------------------------

#: the largest phantom spacing spine_mr draws (mm): between slices, in-plane
_MAX_SLICE_MM = 20.0
_MAX_IN_PLANE_MM = 8.0


@dataclass(frozen=True, eq=False)
class PhantomScan:
    """One phantom as an image and a label map on the same grid (MRSpineSeg ids)."""

    name: str
    image: Image
    labels: Image


def phantom_scans(count: int, seed: int, spacing_mm: Sequence[float]) -> list[PhantomScan]:
    """``count`` phantoms drawn with seeds ``seed, seed + 1, ...`` at ``spacing_mm``.

    Args:
        count: how many (>= 1).
        seed: the first phantom's seed.
        spacing_mm: voxel size along the model axes ``(X, Y, Z)`` = (S->I, A->P, slices).

    Raises:
        InputError: count < 1, or a spacing spine_mr cannot draw (more than 20 mm
            between slices or 8 mm in-plane).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the number of phantoms must be a positive integer, got {count!r}")
    along_si, along_ap, between_slices = (float(s) for s in spacing_mm)
    if between_slices > _MAX_SLICE_MM or max(along_si, along_ap) > _MAX_IN_PLANE_MM:
        raise InputError(f"phantoms cannot be drawn at {tuple(spacing_mm)} mm (at most {_MAX_IN_PLANE_MM} mm "
                         f"in-plane and {_MAX_SLICE_MM} mm between slices)")
    scans = []
    for index in range(count):
        phantom = spine_mr(seed + index, spacing=(between_slices, along_si, along_ap))
        name = f"phantom_{seed + index:04d}"
        scans.append(PhantomScan(name, Image(phantom.image, phantom.affine), Image(phantom.labels, phantom.affine)))
    return scans


PHANTOM_LABELS: dict[int, str] = dict(MR_SPINE_LABELS)
