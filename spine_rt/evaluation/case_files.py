"""Which files make one evaluation case: image, truth labels and (optionally) an existing prediction.

Case names come from file names: the NIfTI extension is dropped, then a
trailing ``_seg`` (what ``spine-rt infer`` appends), then ``_image``,
``_label`` or nnU-Net's channel suffix ``_0000``. So ``vb3_09_image.nii.gz``,
``vb3_09_label.nii.gz``, ``vb3_09_image_seg.nii.gz`` and ``vb3_09.nii.gz``
all belong to case ``vb3_09``. The images and the labels may share one
folder (the layout of ``../shared/data/mr3d``): there, files named
``*_label`` are the labels and the others the images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from spine_rt.errors import InputError

NIFTI_EXTENSIONS = (".nii.gz", ".nii")
_SUFFIXES = ("_image", "_label", "_0000")


@dataclass(frozen=True)
class EvaluationCase:
    """One case: its name, image, truth and the prediction to score (``None``: run the package)."""

    name: str
    image: Path
    label: Path
    prediction: Path | None = None


def case_name(path: Path) -> str | None:
    """The case a NIfTI file belongs to (see the module docstring); ``None`` for other files."""
    stem = next((path.name[: -len(ext)] for ext in NIFTI_EXTENSIONS if path.name.endswith(ext)), None)
    if stem is None:
        return None
    if stem.endswith("_seg"):
        stem = stem[: -len("_seg")]
    for suffix in _SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _by_case(folder: Path, what: str, keep) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError(f"{what} folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = case_name(path)
        if name is None or not path.is_file() or not keep(path):
            continue
        if name in found:
            raise InputError(f"{what}: {found[name].name} and {path.name} both belong to case {name!r}")
        found[name] = path
    return found


def _is_label_file(path: Path) -> bool:
    return any(path.name.endswith(f"_label{ext}") for ext in NIFTI_EXTENSIONS)


def find_cases(images: str | os.PathLike[str], labels: str | os.PathLike[str],
               predictions: str | os.PathLike[str] | None = None) -> list[EvaluationCase]:
    """Pair the images of ``images`` with the labels of ``labels`` (and predictions), sorted by name.

    Raises:
        InputError: a missing folder, no case, an image without labels or
            labels without an image, a case without prediction, two files of one case.
    """
    image_folder, label_folder = Path(images), Path(labels)
    same = image_folder.is_dir() and label_folder.is_dir() and image_folder.resolve() == label_folder.resolve()
    image_files = _by_case(image_folder, "images", (lambda p: not _is_label_file(p)) if same else (lambda p: True))
    label_files = _by_case(label_folder, "labels", _is_label_file if same else (lambda p: True))
    without_labels = sorted(set(image_files) - set(label_files))
    without_images = sorted(set(label_files) - set(image_files))
    if without_labels:
        raise InputError(f"{image_files[without_labels[0]]} has no label file in {label_folder} "
                         f"({len(without_labels)} image(s) without labels)")
    if without_images:
        raise InputError(f"{label_files[without_images[0]]} has no image in {image_folder} "
                         f"({len(without_images)} label file(s) without image)")
    if not image_files:
        raise InputError(f"no NIfTI image/label pairs found in {image_folder} and {label_folder}")
    prediction_files: dict[str, Path] = {}
    if predictions is not None:
        prediction_files = _by_case(Path(predictions), "predictions", lambda p: True)
        lacking = sorted(set(image_files) - set(prediction_files))
        if lacking:
            raise InputError(f"case {lacking[0]} has no prediction in {predictions} "
                             f"({len(lacking)} case(s) without prediction)")
    return [EvaluationCase(name, image_files[name], label_files[name], prediction_files.get(name))
            for name in sorted(image_files)]
