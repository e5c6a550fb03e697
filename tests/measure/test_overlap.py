"""The one Dice (spine_rt.measure.overlap): per label present in either map (or in the truth), and its mean."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.measure.overlap import dice_per_label, mean_dice, mean_of_scores
from spine_rt.errors import InputError


def test_identical_maps_agree_perfectly():
    labels = np.array([[0, 1, 1], [2, 2, 19]], np.uint8)
    assert dice_per_label(labels, labels) == {1: 1.0, 2: 1.0, 19: 1.0}
    assert mean_dice(labels, labels) == 1.0


def test_known_overlaps():
    first = np.array([1, 1, 1, 1, 2, 2, 0, 0])
    second = np.array([1, 1, 0, 0, 2, 3, 3, 0])
    # label 1: |A|=4, |B|=2, both=2 -> 4/6; label 2: 2, 1, 1 -> 2/3; label 3: 0, 2, 0 -> 0
    per_structure = dice_per_label(first, second)
    assert per_structure == pytest.approx({1: 4 / 6, 2: 2 / 3, 3: 0.0})
    assert mean_dice(first, second) == pytest.approx((4 / 6 + 2 / 3 + 0.0) / 3)


def test_background_is_not_a_structure_and_absent_labels_do_not_count():
    first = np.zeros((4, 4), np.uint8)
    second = np.zeros((4, 4), np.uint8)
    assert dice_per_label(first, second) == {}
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


def test_num_labels_scores_only_the_networks_classes():
    truth = np.array([0, 1, 1, 2, 2, 0, 9])
    prediction = np.array([0, 1, 0, 2, 2, 3, 9])
    assert dice_per_label(prediction, truth, 5) == {1: pytest.approx(2 / 3), 2: 1.0, 3: 0.0}  # 4 absent, 9 >= 5
    assert 9 in dice_per_label(prediction, truth)


def test_present_in_truth_ignores_structures_only_predicted():
    truth = np.array([0, 1, 1, 2, 2, 0])
    prediction = np.array([0, 1, 0, 0, 0, 3])
    assert dice_per_label(prediction, truth, present_in="truth") == {1: pytest.approx(2 / 3), 2: 0.0}
    assert dice_per_label(prediction, truth, present_in="either") == {1: pytest.approx(2 / 3), 2: 0.0, 3: 0.0}
    empty = np.zeros(6, np.int64)
    assert mean_dice(prediction, empty, present_in="truth") == 1.0
    assert math.isnan(mean_dice(prediction, empty, present_in="truth", if_none_present=float("nan")))
    assert mean_dice(empty, empty, if_none_present=None) is None


def test_mean_of_scores_is_unweighted():
    assert mean_of_scores({1: 1.0, 2: 0.0, 3: 0.5}) == pytest.approx(0.5)
    assert mean_of_scores({}, if_none_present=None) is None


@pytest.mark.parametrize("prediction, truth, match", [
    (np.array([0.0, 1.0]), np.array([0, 1]), "integer label map"),
    (np.array([0, -1]), np.array([0, 1]), "negative"),
])
def test_bad_label_maps_are_refused(prediction, truth, match):
    with pytest.raises(InputError, match=match):
        dice_per_label(prediction, truth)


def test_bad_options_are_refused():
    labels = np.array([0, 1])
    with pytest.raises(InputError, match="present_in"):
        dice_per_label(labels, labels, present_in="prediction")
    with pytest.raises(InputError, match="num_labels"):
        dice_per_label(labels, labels, 0)
