"""MBNet training data from a folder of PNG X-rays, masks and values (no torch needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PilImage

from spine_rt.anatomy.xray_values import INSPECTION_VALUE_NAMES
from spine_rt.errors import InputError
from spine_rt.phantoms import lumbar_xray
from spine_rt.train.xray_data import load_xray_training_data


def _write_example(folder, name, seed, values=True):
    xray = lumbar_xray(seed, size=96)
    PilImage.fromarray(xray.image).save(folder / f"{name}_image.png")
    PilImage.fromarray(xray.mask).save(folder / f"{name}_label.png")
    if values:
        (folder / f"{name}_values.json").write_text(json.dumps(xray.parameters.as_dict()))
    return xray


def test_folder_of_pngs_is_read_and_resized(tmp_path):
    first = _write_example(tmp_path, "a", 0)
    _write_example(tmp_path, "b", 1)
    data = load_xray_training_data(tmp_path, image_size=(64, 64), validation_fraction=0.5)
    example = data.training[0]
    assert example.image.shape == (3, 64, 64) and 0.0 <= example.image.min() and example.image.max() <= 1.0
    assert example.mask.shape == (64, 64) and set(np.unique(example.mask)) <= {0, 1, 2, 3, 4}
    assert np.allclose(example.values, [first.parameters.as_dict()[n] for n in INSPECTION_VALUE_NAMES])
    assert [x.name for x in data.validation] == ["b"]


def test_folder_errors_are_one_line(tmp_path):
    _write_example(tmp_path, "a", 0, values=False)
    with pytest.raises(InputError, match="a_values.json"):
        load_xray_training_data(tmp_path, image_size=(64, 64))
    (tmp_path / "a_values.json").write_text(json.dumps({"PI": 50.0}))
    with pytest.raises(InputError, match="missing LL"):
        load_xray_training_data(tmp_path, image_size=(64, 64))
    with pytest.raises(InputError, match="multiples of 32"):
        load_xray_training_data(phantoms=1, image_size=(100, 100))
    with pytest.raises(InputError, match="not found"):
        load_xray_training_data(tmp_path / "missing")
