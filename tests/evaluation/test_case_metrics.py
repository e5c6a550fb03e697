"""Metrics of one case: Dice (the one of spine_rt.measure.overlap, as the training validates), HD95 against MONAI, missing/extra, level shifts."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.evaluation import evaluate_case, find_level_shifts
from spine_rt.evaluation.spine_levels import level_of, neighbouring_levels
from spine_rt.evaluation.surface_distance import hausdorff_distance_95, voxel_spacing
from spine_rt.measure.overlap import dice_per_label
from evaluation_cases import AFFINE, LABELS, SPACING, shifted_by_one_level, spine_labels


def test_a_perfect_prediction_scores_one_and_no_distance():
    truth = spine_labels()
    case = evaluate_case("a", truth, truth, AFFINE, LABELS)
    assert case.mean_dice == 1.0
    assert set(case.dice) == {"L1", "L2", "L3", "L4", "L5"}
    assert all(value == 0.0 for value in case.hd95_mm.values())
    assert case.missing == [] and case.extra == [] and case.level_shifts == []
    assert case.spacing_mm == SPACING


def test_dice_is_the_training_validation_dice():
    truth = spine_labels()
    prediction = truth.copy()
    prediction[5:9] = 0  # the top half of L1 is missed
    prediction[40:44, 6:18, 2:8] = 2  # part of L4 called L2
    case = evaluate_case("a", prediction, truth, AFFINE, LABELS)
    expected = dice_per_label(prediction.astype(np.int64), truth.astype(np.int64), len(LABELS))
    assert case.dice == {LABELS[k]: v for k, v in expected.items()}
    assert case.mean_dice == pytest.approx(np.mean(list(expected.values())))
    assert case.dice["L1"] == pytest.approx(2 * 4 / (4 + 8))


def test_hd95_in_mm_uses_the_affine_spacing():
    truth = spine_labels()
    prediction = truth.copy()
    prediction[prediction == 3] = 0
    prediction[27:33, 6:18, 2:8] = 3  # L3 moved 2 rows (2 mm along axis 0) down
    case = evaluate_case("a", prediction, truth, AFFINE, LABELS)
    assert case.hd95_mm["L3"] == pytest.approx(2.0)
    assert case.hd95_mm["L1"] == 0.0
    assert voxel_spacing(np.diag([0.5, 2.0, 4.4, 1.0]) @ np.array(
        [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])) == pytest.approx((2.0, 0.5, 4.4))


@pytest.mark.torch
def test_hd95_agrees_with_monai():
    torch = pytest.importorskip("torch")
    metrics = pytest.importorskip("monai.metrics")
    rng = np.random.default_rng(0)
    first = np.zeros((30, 28, 12), bool)
    first[4:20, 6:22, 2:10] = True
    second = np.roll(first, 3, axis=0) & (rng.random(first.shape) > 0.1)
    second[25:27, 1:3, 0:2] = True  # an outlier island
    spacing = (0.8, 1.2, 3.3)
    reference = metrics.compute_hausdorff_distance(
        torch.from_numpy(first)[None, None].float(), torch.from_numpy(second)[None, None].float(),
        percentile=95, spacing=spacing)
    assert hausdorff_distance_95(first, second, spacing) == pytest.approx(float(reference), rel=1e-5)


def test_one_empty_mask_has_no_distance_and_both_empty_zero():
    empty = np.zeros((5, 5, 5), bool)
    full = empty.copy()
    full[1:3, 1:3, 1:3] = True
    assert hausdorff_distance_95(empty, full, (1, 1, 1)) is None
    assert hausdorff_distance_95(empty, empty, (1, 1, 1)) == 0.0


def test_a_missing_structure_and_an_extra_one_are_reported():
    truth = spine_labels()
    truth_without_l3 = truth.copy()
    truth_without_l3[truth == 3] = 0
    prediction = truth.copy()
    prediction[prediction == 5] = 0
    case = evaluate_case("a", prediction, truth_without_l3, AFFINE, LABELS)
    assert case.missing == ["L5"]
    assert case.extra == ["L3"]
    assert case.dice["L5"] == 0.0 and case.dice["L3"] == 0.0
    assert case.hd95_mm["L5"] is None and case.hd95_mm["L3"] is None
    assert case.level_shifts == []


def test_a_prediction_off_by_one_level_is_a_level_shift():
    truth = spine_labels()
    case = evaluate_case("a", shifted_by_one_level(truth), truth, AFFINE, LABELS)
    shifts = {(s.predicted, s.true) for s in case.level_shifts}
    assert shifts == {("L1", "L2"), ("L2", "L3"), ("L3", "L4"), ("L4", "L5")}
    assert all(s.overlap_share == 1.0 for s in case.level_shifts)
    assert case.missing == ["L5"]
    assert case.mean_dice == 0.0


def test_a_partly_wrong_structure_is_no_level_shift_while_most_of_it_is_right():
    truth = spine_labels()
    prediction = truth.copy()
    prediction[15:18, 6:18, 2:8] = 1  # the top 3 of L2's 8 rows called L1
    assert find_level_shifts(prediction, truth, LABELS) == []


def test_levels_and_neighbours_follow_the_spine():
    assert level_of("L5/S")[0] == "disc" and level_of("T12")[0] == "vertebra"
    assert neighbouring_levels((2, "L5"), (1, "S"))
    assert neighbouring_levels((16, "T12/L1"), (15, "L1/L2"))
    assert not neighbouring_levels((2, "L5"), (12, "L4/L5"))  # vertebra vs disc
    assert not neighbouring_levels((2, "L5"), (4, "L3"))
    assert neighbouring_levels((3, "label 3"), (4, "label 4"))  # unknown names: adjacent ids
