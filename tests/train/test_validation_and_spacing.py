"""Validation Dice, value scaling and the training grid options (no torch needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.anatomy.xray_values import MinMaxScaling
from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.measure.overlap import dice_per_label
from spine_rt.train.volumes import parse_spacing, preprocessing_record, training_preprocessing
from spine_rt.train.validation import summarize_dice


def test_dice_per_class_counts_only_present_classes():
    truth = np.array([0, 1, 1, 2, 2, 0])
    prediction = np.array([0, 1, 0, 2, 2, 3])
    scores = dice_per_label(prediction, truth, 5)
    assert scores == {1: pytest.approx(2 / 3), 2: 1.0, 3: 0.0}  # class 4 present in neither
    summary = summarize_dice({"a": scores, "b": {1: 1.0}}, {0: "bg", 1: "one", 2: "two", 3: "three", 4: "four"})
    assert summary.per_scan["a"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert summary.per_class["one"] == pytest.approx((2 / 3 + 1) / 2) and summary.per_class["four"] is None
    assert summary.mean == pytest.approx((summary.per_scan["a"] + 1.0) / 2)
    assert summary.as_dict()["per_class"]["four"] is None
    assert math.isnan(summarize_dice({"empty": {}}, {0: "bg", 1: "one"}).mean)


def test_min_max_scaling_round_trip():
    values = np.array([[10.0, 5.0, 3.0], [20.0, 5.0, 1.0]])
    scaling = MinMaxScaling.fit(values, ("a", "b", "c"))
    scaled = scaling.scale(values)
    assert scaled.min() >= 0 and scaled.max() <= 1 and np.allclose(scaled[:, 1], 0)  # constant value: range 1
    assert np.allclose(scaling.unscale(scaled), values)
    assert MinMaxScaling.from_dict(scaling.as_dict()) == scaling
    with pytest.raises(InputError):
        MinMaxScaling.fit(values, ("a", "b"))


def test_spacing_options():
    assert parse_spacing(None) == "model" and parse_spacing("native") == "native"
    assert parse_spacing("1,1,4") == (1.0, 1.0, 4.0)
    for bad in ("1,1", "a,b,c", "0,1,1", "coarse"):
        with pytest.raises(InputError):
            parse_spacing(bad)
    model = training_preprocessing("model")
    assert model.spacing_mm == (0.3448, 0.3448, 4.4) and model.resolution_factor == 2
    image = Image(np.ones((10, 12, 8), np.float32), np.diag([1.0, 2.0, 3.0, 1.0]))  # RAS: model axes I, P, R
    native = training_preprocessing("native", image)
    assert native.spacing_mm == (3.0, 2.0, 1.0) and native.stage_one_spacing_mm == (6.0, 4.0, 1.0)
    custom = training_preprocessing((1.0, 1.0, 4.0), resolution_factor=3)
    assert custom.stage_one_spacing_mm == (3.0, 3.0, 4.0)
    record = preprocessing_record(custom)
    assert record["spacing_mm"]["stage2"] == [1.0, 1.0, 4.0] and record["axes"] == ["I", "P", "R"]
    with pytest.raises(InputError):
        training_preprocessing("native")
