"""Overlap of two label maps: the Dice coefficient per label and its mean (the one Dice of spine-rt).

For one foreground label ``k`` (> 0; 0 is background and never scored)::

    Dice_k = 2 |P_k ∩ T_k| / (|P_k| + |T_k|)

counted in voxels (pixels) with :func:`numpy.bincount`, one pass per map,
whatever the number of labels. Which labels are scored is explicit
(``present_in``):

* ``"either"`` (default; SEEDS' metric, the training validation, ``spine-rt
  evaluate`` and the benchmark's label agreement): every label present in the
  prediction or the truth. A label in only one map scores 0.0; a label in
  neither is *excluded* (neither 1.0 nor NaN).
* ``"truth"`` (the demo's report): the labels present in the truth only; a
  label found only in the prediction is not scored (a false structure does
  not lower the mean).

:func:`mean_dice` is the unweighted mean over the scored labels. When no
label is scored (both maps all background, or an empty truth with
``present_in="truth"``) the mean is ``if_none_present``: 1.0 by default (two
empty maps agree perfectly, MONAI's ``ignore_empty=False``); pass
``float("nan")`` or ``None`` where "nothing to score" must stay visible.
The mean over scans (validation, evaluation reports) is left to the callers:
they average each scan's mean, skipping scans with nothing scored.

Only numpy is used (MONAI's ``DiceMetric`` works on one-hot torch tensors,
and the run path must not import torch).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from spine_rt.errors import InputError

#: Which labels are scored: present in either map, or present in the truth.
PresentIn = Literal["either", "truth"]
PRESENT_IN: tuple[str, ...] = ("either", "truth")


def dice_per_label(prediction: np.ndarray, truth: np.ndarray, num_labels: int | None = None, *,
                   present_in: PresentIn = "either") -> dict[int, float]:
    """``{label id: Dice}`` of the foreground labels scored under ``present_in`` (ascending ids).

    Args:
        prediction, truth: integer label maps of the same shape (any dimensionality), labels >= 0.
        num_labels: score only the labels ``1 .. num_labels - 1`` (larger ids are ignored, as
            labels outside a network's classes); ``None``: every label up to the largest present.
        present_in: ``"either"`` or ``"truth"`` (see the module docstring).

    Raises:
        InputError: the maps differ in shape, hold a negative or non-integer label, or
            ``present_in`` / ``num_labels`` is not valid.
    """
    if present_in not in PRESENT_IN:
        raise InputError(f"present_in must be one of {', '.join(PRESENT_IN)}, got {present_in!r}")
    if np.shape(prediction) != np.shape(truth):
        raise InputError(f"label maps of different shapes: {np.shape(prediction)} and {np.shape(truth)}")
    first, second = _flat_labels(prediction, "prediction"), _flat_labels(truth, "truth")
    if num_labels is None:
        size = int(max(first.max(initial=0), second.max(initial=0))) + 1
    elif isinstance(num_labels, (int, np.integer)) and not isinstance(num_labels, bool) and num_labels >= 1:
        size = int(num_labels)
    else:
        raise InputError(f"num_labels must be an integer >= 1 or None, got {num_labels!r}")
    count_prediction = np.bincount(first, minlength=size)[:size]
    count_truth = np.bincount(second, minlength=size)[:size]
    both = np.bincount(first[first == second], minlength=size)[:size]
    scored = count_truth if present_in == "truth" else count_prediction + count_truth
    return {label: 2.0 * float(both[label]) / float(count_prediction[label] + count_truth[label])
            for label in range(1, size) if scored[label] > 0}


def mean_dice(prediction: np.ndarray, truth: np.ndarray, num_labels: int | None = None, *,
              present_in: PresentIn = "either", if_none_present: float | None = 1.0) -> float | None:
    """Mean of :func:`dice_per_label` over the scored labels; ``if_none_present`` when none is scored.

    The default (``present_in="either"``, 1.0 for two empty maps) is symmetric in the two maps.

    Raises:
        InputError: as :func:`dice_per_label`.
    """
    scores = dice_per_label(prediction, truth, num_labels, present_in=present_in)
    return mean_of_scores(scores, if_none_present)


def mean_of_scores(scores: dict[int, float] | dict[str, float], if_none_present: float | None = 1.0) -> float | None:
    """The unweighted mean of per-label Dice scores; ``if_none_present`` for an empty dict."""
    if not scores:
        return if_none_present
    return float(np.mean(list(scores.values())))


def _flat_labels(labels: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.dtype.kind not in "iub":
        raise InputError(f"{what} must be an integer label map, got dtype {array.dtype}")
    flat = array.reshape(-1).astype(np.int64, copy=False)
    if flat.size and flat.min() < 0:
        raise InputError(f"{what} holds negative labels (min {int(flat.min())})")
    return flat
