"""Validation Dice: per class over the classes present, mean per scan, then over scans.

As SEEDS' metric: for one scan, the Dice of every foreground class present
in the prediction or the truth (:func:`spine_rt.measure.overlap.dice_per_label`,
``present_in="either"``: a class in neither is skipped); the scan's score is
the mean of those. The validation score is the mean over scans (NaN when no
class was present in any scan); each class's score is its mean over the
scans where it was present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from spine_rt.measure.overlap import mean_of_scores


@dataclass(frozen=True)
class ValidationDice:
    """Dice over the validation scans.

    Attributes:
        mean: mean over scans of each scan's mean Dice (NaN when no class was present anywhere).
        per_class: structure name -> mean Dice over the scans where it was present (None: never present).
        per_scan: scan name -> its mean Dice (None: no class present).
        extra: other validation numbers of a recipe (e.g. MBNet's value errors).
    """

    mean: float
    per_class: dict[str, float | None]
    per_scan: dict[str, float | None]
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON- and checkpoint-safe dict (NaN written as None)."""
        return {
            "mean_dice": None if math.isnan(self.mean) else round(self.mean, 6),
            "per_class": {k: (None if v is None else round(v, 6)) for k, v in self.per_class.items()},
            "per_scan": {k: (None if v is None else round(v, 6)) for k, v in self.per_scan.items()},
            **({"extra": {k: round(float(v), 6) for k, v in self.extra.items()}} if self.extra else {}),
        }

    def summary(self) -> str:
        """One line: mean and per-class Dice."""
        classes = ", ".join(f"{name} {'-' if v is None else f'{v:.3f}'}" for name, v in self.per_class.items())
        extra = "".join(f", {k} {v:.3g}" for k, v in self.extra.items())
        return f"mean Dice {self.mean:.4f} ({classes}){extra}"


def summarize_dice(per_scan: Mapping[str, Mapping[int, float]], label_map: Mapping[int, str],
                   extra: Mapping[str, float] | None = None) -> ValidationDice:
    """Combine :func:`~spine_rt.measure.overlap.dice_per_label` results of several scans into a :class:`ValidationDice`."""
    scan_means = {name: mean_of_scores(dict(scores), if_none_present=None) for name, scores in per_scan.items()}
    per_class: dict[str, float | None] = {}
    for class_id, class_name in sorted(label_map.items()):
        if class_id == 0:
            continue
        values = [scores[class_id] for scores in per_scan.values() if class_id in scores]
        per_class[class_name] = float(np.mean(values)) if values else None
    present = [v for v in scan_means.values() if v is not None]
    mean = float(np.mean(present)) if present else float("nan")
    return ValidationDice(mean, per_class, scan_means, dict(extra or {}))
