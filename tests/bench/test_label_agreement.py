"""Dice per structure and its mean over the structures present in either map."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.label_agreement import dice_per_structure, mean_dice
from spine_rt.errors import InputError


def test_identical_maps_agree_perfectly():
    labels = np.array([[0, 1, 1], [2, 2, 19]], np.uint8)
    assert dice_per_structure(labels, labels) == {1: 1.0, 2: 1.0, 19: 1.0}
    assert mean_dice(labels, labels) == 1.0


def test_known_overlaps():
    first = np.array([1, 1, 1, 1, 2, 2, 0, 0])
    second = np.array([1, 1, 0, 0, 2, 3, 3, 0])
    # label 1: |A|=4, |B|=2, both=2 -> 4/6; label 2: 2, 1, 1 -> 2/3; label 3: 0, 2, 0 -> 0
    per_structure = dice_per_structure(first, second)
    assert per_structure == pytest.approx({1: 4 / 6, 2: 2 / 3, 3: 0.0})
    assert mean_dice(first, second) == pytest.approx((4 / 6 + 2 / 3 + 0.0) / 3)


def test_background_is_not_a_structure_and_absent_labels_do_not_count():
    first = np.zeros((4, 4), np.uint8)
    second = np.zeros((4, 4), np.uint8)
    assert dice_per_structure(first, second) == {}
    assert mean_dice(first, second) == 1.0
    second[0, 0] = 7
    assert mean_dice(first, second) == 0.0  # label 7 present in one map only


def test_symmetric():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 5, (6, 7, 8))
    second = rng.integers(0, 5, (6, 7, 8))
    assert mean_dice(first, second) == pytest.approx(mean_dice(second, first))


def test_shapes_must_match():
    with pytest.raises(InputError, match="different shapes"):
        mean_dice(np.zeros((2, 3)), np.zeros((3, 2)))
