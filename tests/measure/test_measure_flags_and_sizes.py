"""Normal-range flags and per-structure sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spine_rt.measure import NORMAL_RANGES, flag_value, flagged_values, structures_found


def test_seeds_normal_ranges():
    assert NORMAL_RANGES == {"PI": (34.0, 84.0), "LL": (31.0, 79.0), "PI-LL": (-10.0, 10.0), "LDI": (50.0, 80.0),
                             "RLL": (-14.0, 11.0), "SS": (20.0, 65.0), "PT": (5.0, 30.0)}


@pytest.mark.parametrize(("name", "value", "flag"), [
    ("PI", 34.0, "normal"), ("PI", 33.9, "low"), ("PI", 84.1, "high"), ("PI-LL", -10.5, "low"),
    ("PT", 4.0, "low"), ("LDI", 80.0, "normal"), ("L3", 7.0, "no range"), ("SS", None, "not measured"),
    ("LL", math.nan, "not measured"),
])
def test_flags(name, value, flag):
    assert flag_value(name, value) == flag


def test_flagged_values_round_and_name_units():
    report = flagged_values({"LDI": 61.23456, "L1": None})
    assert report["LDI"] == {"value": 61.23, "unit": "%", "normal_range": [50.0, 80.0], "flag": "normal"}
    assert report["L1"] == {"value": None, "unit": "degrees", "normal_range": None, "flag": "not measured"}


def test_volumes_of_a_3d_map_and_areas_of_a_2d_map():
    volume = np.zeros((4, 5, 6), np.uint8)
    volume[0, :2, :3] = 2
    volume[3, 0, 0] = 7
    found = structures_found(volume, (2.0, 1.0, 0.5), {2: "L5"})
    assert found == [{"label": 2, "name": "L5", "voxels": 6, "volume_mm3": 6.0},
                     {"label": 7, "name": "label 7", "voxels": 1, "volume_mm3": 1.0}]
    picture = np.zeros((3, 3), np.uint8)
    picture[0] = 1
    assert structures_found(picture, (0.5, 0.2), {1: "vertebra"}) == [
        {"label": 1, "name": "vertebra", "pixels": 3, "area_mm2": 0.3}]
    assert structures_found(picture, None, {})[0]["area_mm2"] is None
    with pytest.raises(ValueError, match="spacing"):
        structures_found(volume, None, {})
    with pytest.raises(ValueError, match="does not fit"):
        structures_found(picture, (1.0, 1.0, 1.0), {})


def test_the_mr_pipeline_name_still_works():
    from spine_rt.measure.structure_sizes import structures_found as old_name

    assert old_name is structures_found
