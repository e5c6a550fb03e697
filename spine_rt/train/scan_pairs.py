"""Finding training scans in a folder: ``NAME_image.nii.gz`` with ``NAME_label.nii.gz``.

A labelled folder holds pairs ``NAME_image.nii[.gz]`` / ``NAME_label.nii[.gz]``
(the layout of ``../shared/data/mr3d``); an unlabelled folder (for cross
pseudo supervision) holds images only: ``NAME_image.nii[.gz]`` or any other
NIfTI whose name does not end in ``_label``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spine_rt.errors import InputError

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
