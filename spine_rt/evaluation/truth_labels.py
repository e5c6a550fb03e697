"""Reading a truth label map for evaluation: values checked, ids mapped to the package's, geometry checked.

Without a labels map the truth's ids are the package's ids. With one
(``--labels-map labels.json``: ``{id: name}`` of the truth files) the
truth's structures are matched to the package's by name (case-insensitive);
structures the package does not know are ignored (scored as background)
and listed. A value the map does not name, or a label map on another grid
than its image, is an error (:class:`~spine_rt.errors.InputError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spine_rt.anatomy.label_maps import check_label_ids, lookup_by_name
from spine_rt.errors import InputError
from spine_rt.io import Image

#: largest difference (mm) between two affines' entries still taken as the same grid
AFFINE_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class TruthMapping:
    """How truth ids become package ids.

    Attributes:
        truth_labels: ``{id: name}`` of the truth files (the package's own without a labels map).
        table: ``table[truth id] = package id``.
        ignored: truth structures the package does not name (scored as background).
    """

    truth_labels: dict[int, str]
    table: np.ndarray
    ignored: tuple[str, ...]

    @classmethod
    def build(cls, package_labels: Mapping[int, str], truth_labels: Mapping[int, str] | None) -> TruthMapping:
        """The identity (``truth_labels`` None) or the match by name.

        Raises:
            InputError: no truth structure is named in the package.
        """
        if truth_labels is None:
            labels = dict(package_labels)
            return cls(labels, np.arange(max(labels) + 1, dtype=np.int64), ())
        table = lookup_by_name(truth_labels, package_labels).astype(np.int64)
        ignored = tuple(name for k, name in sorted(truth_labels.items()) if k and table[k] == 0)
        return cls(dict(truth_labels), table, ignored)

    def apply(self, truth: np.ndarray, where: str) -> np.ndarray:
        """``truth`` with package ids.

        Raises:
            InputError: a value the truth labels do not name (the message lists it).
        """
        try:
            check_label_ids(truth, self.truth_labels, where)
        except InputError as exc:
            raise InputError(f"{exc} (or --labels-map)") from None
        return self.table[np.asarray(truth).astype(np.int64)]


def check_same_grid(reference: Image, other: Image, what: str, reference_path: Path, other_path: Path) -> None:
    """Raise unless ``other`` has ``reference``'s shape and affine (within :data:`AFFINE_TOLERANCE_MM`).

    Raises:
        InputError: naming both files, the shapes or the largest affine difference.
    """
    shape_a, shape_b = tuple(reference.array.shape[:3]), tuple(other.array.shape[:3])
    if shape_a != shape_b:
        raise InputError(f"{other_path}: {what} of shape {shape_b}, but {reference_path.name} has shape {shape_a}")
    difference = float(np.max(np.abs(np.asarray(reference.affine) - np.asarray(other.affine))))
    if difference > AFFINE_TOLERANCE_MM:
        raise InputError(f"{other_path}: {what} on another grid than {reference_path.name} "
                         f"(affines differ by up to {difference:.4g} mm)")
