"""Metrics of one segmented case against its truth: Dice, HD95, missing/extra structures, level shifts.

* **Dice** per structure present in the prediction or the truth (SEEDS'
  metric, :func:`spine_rt.measure.overlap.dice_per_label` with
  ``present_in="either"``, as the training recipes validate); the case's
  mean Dice is their mean (``None`` when no structure is present in either).
* **HD95** (mm) per structure present in both
  (:func:`spine_rt.evaluation.surface_distance.hausdorff_distance_95`, voxel
  size from the affine); ``None`` where one side lacks the structure.
* **missing**: in the truth, not predicted; **extra**: predicted, not in the truth.
* **level shifts**: a predicted structure whose best-overlapping true
  structure (most shared voxels) is a neighbouring level
  (:mod:`spine_rt.evaluation.spine_levels`), e.g. the voxels predicted "L2"
  lie mostly on the true L3: the network counted the levels off by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from spine_rt.evaluation.spine_levels import neighbouring_levels
from spine_rt.evaluation.surface_distance import hausdorff_distance_95, voxel_spacing
from spine_rt.measure.overlap import dice_per_label, mean_of_scores


@dataclass(frozen=True)
class LevelShift:
    """A predicted structure lying mostly on a neighbouring true level.

    Attributes:
        predicted: the predicted structure's name.
        true: the name of the true structure it overlaps best.
        overlap_share: share of the predicted voxels inside that true structure.
    """

    predicted: str
    true: str
    overlap_share: float

    def as_dict(self) -> dict:
        return {"predicted": self.predicted, "true": self.true, "overlap_share": round(self.overlap_share, 4)}


@dataclass(frozen=True)
class CaseEvaluation:
    """The metrics of one case.

    Attributes:
        name: the case name.
        dice: structure name -> Dice (structures present in the prediction or the truth).
        hd95_mm: structure name -> 95th-percentile Hausdorff distance in mm (``None``: one side empty).
        mean_dice: mean of :attr:`dice` (``None`` when no structure is present in either).
        missing / extra: structure names in the truth only / in the prediction only.
        level_shifts: predicted structures lying mostly on a neighbouring true level.
        spacing_mm: the voxel size the distances were measured with.
    """

    name: str
    dice: dict[str, float]
    hd95_mm: dict[str, float | None]
    mean_dice: float | None
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    level_shifts: list[LevelShift] = field(default_factory=list)
    spacing_mm: tuple[float, ...] = ()

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "mean_dice": None if self.mean_dice is None else round(self.mean_dice, 6),
            "dice": {k: round(v, 6) for k, v in self.dice.items()},
            "hd95_mm": {k: (None if v is None else round(v, 4)) for k, v in self.hd95_mm.items()},
            "missing": list(self.missing),
            "extra": list(self.extra),
            "level_shifts": [shift.as_dict() for shift in self.level_shifts],
            "spacing_mm": [round(s, 6) for s in self.spacing_mm],
        }


def find_level_shifts(prediction: np.ndarray, truth: np.ndarray, labels: Mapping[int, str]) -> list[LevelShift]:
    """Predicted structures whose best-overlapping true structure is a neighbouring level.

    Args:
        prediction, truth: integer label maps of one shape (ids of ``labels``).
        labels: ``{id: name}``, 0 = background.
    """
    size = max(labels) + 1
    both = (prediction > 0) & (truth > 0)
    # joint histogram of (predicted id, true id) over voxels where both are foreground
    pairs = np.bincount(prediction[both].astype(np.int64) * size + truth[both].astype(np.int64),
                        minlength=size * size).reshape(size, size)
    predicted_counts = np.bincount(prediction.reshape(-1).astype(np.int64), minlength=size)
    shifts = []
    for predicted_id in range(1, size):
        if pairs[predicted_id].sum() == 0:
            continue
        best = int(np.argmax(pairs[predicted_id]))
        if best != predicted_id and neighbouring_levels((predicted_id, labels[predicted_id]), (best, labels[best])):
            share = float(pairs[predicted_id, best]) / float(predicted_counts[predicted_id])
            shifts.append(LevelShift(labels[predicted_id], labels[best], share))
    return shifts


def evaluate_case(name: str, prediction: np.ndarray, truth: np.ndarray, affine: np.ndarray,
                  labels: Mapping[int, str]) -> CaseEvaluation:
    """All metrics of one case (see the module docstring).

    Args:
        name: the case name.
        prediction, truth: integer label maps ``(X, Y, Z)`` of one shape on ``affine``, ids of ``labels``.
        affine: the ``(4, 4)`` voxel-to-mm affine of both maps.
        labels: ``{id: name}`` with ids ``0 .. K-1``.
    """
    predicted = np.asarray(prediction).astype(np.int64, copy=False)
    true = np.asarray(truth).astype(np.int64, copy=False)
    spacing = voxel_spacing(affine)
    scores = dice_per_label(predicted, true, len(labels), present_in="either")
    dice = {labels[k]: v for k, v in sorted(scores.items())}
    present_predicted = set(np.unique(predicted).tolist()) - {0}
    present_true = set(np.unique(true).tolist()) - {0}
    hd95 = {labels[k]: (hausdorff_distance_95(predicted == k, true == k, spacing)
                        if k in present_predicted and k in present_true else None)
            for k in sorted(scores)}
    return CaseEvaluation(
        name=name,
        dice=dice,
        hd95_mm=hd95,
        mean_dice=mean_of_scores(scores, if_none_present=None),
        missing=[labels[k] for k in sorted(present_true - present_predicted)],
        extra=[labels[k] for k in sorted(present_predicted - present_true)],
        level_shifts=find_level_shifts(predicted, true, labels),
        spacing_mm=spacing,
    )
