"""MBNet training data: lateral lumbar X-rays, their 5-class masks and 18 inspection values.

Sources (one of the two):

* ``phantoms=N``: synthetic X-rays (:func:`spine_rt.phantoms.lumbar_xray`,
  seeds ``seed .. seed + N - 1``) drawn at the network's image size, with
  exact masks and values;
* a folder of ``NAME_image.png`` (grey or RGB), ``NAME_label.png`` (class
  ids 0..4, :data:`~spine_rt.anatomy.label_tables.XRAY_LABELS`) and ``NAME_values.json``
  (``{"PI": 52.1, "LL": 48.0, ...}``, all 18 names of
  :data:`~spine_rt.anatomy.xray_values.INSPECTION_VALUE_NAMES`), resized to the
  image size (bilinear for the image, nearest for the mask).

Images become RGB ``(3, H, W)`` float32 in [0, 1] (/255), as MBNet reads
them. The validation split works as for MR (:mod:`spine_rt.train.mr_data`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spine_rt.errors import InputError
from spine_rt.anatomy.label_tables import XRAY_LABELS
from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.phantoms import lumbar_xray
from spine_rt.train.mr_data import DEFAULT_VALIDATION_FRACTION, validation_count
from spine_rt.anatomy.label_maps import check_label_ids

@dataclass(frozen=True, eq=False)
class XrayExample:
    """One training X-ray: ``image (3, H, W)`` float32 in [0, 1], ``mask (H, W)`` uint8, ``values (18,)``."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class XrayTrainingData:
    """Training and validation X-rays at one image size."""

    training: tuple[XrayExample, ...]
    validation: tuple[XrayExample, ...]
    label_map: dict[int, str]
    image_size: tuple[int, int]
    validation_is_training: bool
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.label_map)

    def describe(self) -> dict:
        return {"source": self.source, "training": [x.name for x in self.training],
                "validation": [x.name for x in self.validation], "validation_is_training": self.validation_is_training}


def _phantom_examples(count: int, seed: int, size: tuple[int, int]) -> list[XrayExample]:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the number of phantoms must be a positive integer, got {count!r}")
    examples = []
    for index in range(count):
        xray = lumbar_xray(seed + index, size=size)
        values = xray.parameters.as_dict()
        examples.append(XrayExample(
            f"xray_phantom_{seed + index:04d}",
            np.moveaxis(xray.rgb(), -1, 0).astype(np.float32) / 255.0,
            xray.mask.astype(np.uint8),
            np.array([values[name] for name in INSPECTION_VALUE_NAMES], np.float64),
        ))
    return examples


def _read_png(path: Path, size: tuple[int, int], nearest: bool) -> np.ndarray:
    from PIL import Image as PilImage

    try:
        with PilImage.open(path) as picture:
            picture = picture.convert("L" if nearest else "RGB")
            resized = picture.resize((size[1], size[0]), PilImage.NEAREST if nearest else PilImage.BILINEAR)
            return np.asarray(resized)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the picture ({exc})") from None


def _read_values(path: Path) -> np.ndarray:
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None
    missing = [name for name in INSPECTION_VALUE_NAMES if name not in stored]
    if not isinstance(stored, dict) or missing:
        raise InputError(f"{path}: needs all 18 values by name; missing {', '.join(missing) or 'all'}")
    try:
        return np.array([float(stored[name]) for name in INSPECTION_VALUE_NAMES], np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: every value must be a number") from None


def _folder_examples(folder: str | Path, size: tuple[int, int]) -> list[XrayExample]:
    directory = Path(folder)
    if not directory.is_dir():
        raise InputError(f"training data folder not found: {directory}")
    images = sorted(directory.glob("*_image.png"))
    if not images:
        raise InputError(f"{directory}: no NAME_image.png files found")
    examples = []
    for image_path in images:
        name = image_path.name[: -len("_image.png")]
        label_path, values_path = directory / f"{name}_label.png", directory / f"{name}_values.json"
        for needed in (label_path, values_path):
            if not needed.is_file():
                raise InputError(f"{image_path} has no {needed.name} beside it")
        mask = _read_png(label_path, size, nearest=True)
        check_label_ids(mask, XRAY_LABELS, str(label_path))
        image = np.moveaxis(_read_png(image_path, size, nearest=False), -1, 0).astype(np.float32) / 255.0
        examples.append(XrayExample(name, image, mask.astype(np.uint8), _read_values(values_path)))
    return examples


def load_xray_training_data(
    data: str | Path | None = None,
    *,
    phantoms: int | None = None,
    image_size: Sequence[int] = (512, 512),
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    phantom_seed: int = 0,
) -> XrayTrainingData:
    """Read or draw the X-rays (see the module docstring).

    Raises:
        InputError: no source or two, a missing folder or file, a bad size, masks
            with ids outside 0..4, incomplete values (one line each).
    """
    if (data is None) == (phantoms is None):
        raise InputError("give either a data folder or a number of phantoms (not both, not neither)")
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or any(s < 64 or s % 32 for s in size):
        raise InputError(f"X-ray image size must be (H, W), multiples of 32 and at least 64, got {tuple(image_size)}")
    if phantoms is not None:
        examples = _phantom_examples(phantoms, phantom_seed, size)  # type: ignore[arg-type]
        source = f"{phantoms} X-ray phantoms (seeds {phantom_seed}..{phantom_seed + phantoms - 1})"
    else:
        examples = _folder_examples(data, size)  # type: ignore[arg-type]
        source = str(Path(data))  # type: ignore[arg-type]
    held_out = validation_count(len(examples), validation_fraction)
    keep = len(examples) - held_out
    training, validation = examples[:keep], examples[keep:]
    return XrayTrainingData(tuple(training), tuple(validation or training), dict(XRAY_LABELS), size,  # type: ignore[arg-type]
                            not validation, source)
