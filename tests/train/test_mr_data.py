"""labels.json handling and bad training data: one InputError line each (no torch needed)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from spine_rt.anatomy.label_maps import check_label_ids, load_label_map, lookup_by_name
from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.errors import InputError
from spine_rt.train.mr_data import find_labelled_scans, find_unlabelled_scans, load_mr_training_data, validation_count

VERTEBRAE = {"0": "background", "1": "L1", "2": "L2", "3": "L3", "4": "L4", "5": "L5"}


def _write_pair(folder, name, labels, image=True, label=True):
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    if image:
        values = np.random.default_rng(0).uniform(1, 100, labels.shape).astype(np.float32)
        nib.save(nib.Nifti1Image(values, affine), folder / f"{name}_image.nii.gz")
    if label:
        nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), folder / f"{name}_label.nii.gz")


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_labels_json_sets_the_classes(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(VERTEBRAE))
    assert load_label_map(path, MR_SPINE_LABELS) == {int(k): v for k, v in VERTEBRAE.items()}
    assert load_label_map(None, MR_SPINE_LABELS) == MR_SPINE_LABELS


@pytest.mark.parametrize("content", ['{"0": "background", "2": "L2"}', '{"zero": "background"}', "[1, 2", '["background"]'])
def test_bad_labels_json_is_one_line(tmp_path, content):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        load_label_map(path, MR_SPINE_LABELS)
    _one_line(error)


def test_label_ids_outside_the_label_map(tmp_path):
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[0, 0, 0] = 7
    with pytest.raises(InputError) as error:
        check_label_ids(labels, {0: "background", 1: "L1"}, "scan_label.nii.gz")
    assert "7" in _one_line(error) and "scan_label.nii.gz" in str(error.value)


def test_folder_errors(tmp_path):
    with pytest.raises(InputError) as error:
        find_labelled_scans(tmp_path / "missing")
    assert "not found" in _one_line(error)
    with pytest.raises(InputError) as error:
        find_labelled_scans(tmp_path)
    assert "no NAME_image" in _one_line(error)
    labels = np.zeros((8, 8, 4), np.uint8)
    _write_pair(tmp_path, "a", labels, label=False)
    with pytest.raises(InputError) as error:
        find_labelled_scans(tmp_path)
    assert "a_image.nii.gz has no label file" in _one_line(error)
    (tmp_path / "a_image.nii.gz").unlink()
    _write_pair(tmp_path, "b", labels, image=False)
    with pytest.raises(InputError) as error:
        find_labelled_scans(tmp_path)
    assert "b_label.nii.gz has no image file" in _one_line(error)
    with pytest.raises(InputError):
        find_unlabelled_scans(tmp_path)  # only a label file


def test_folder_data_with_labels_json_and_outside_ids(tmp_path):
    labels = np.zeros((32, 32, 6), np.uint8)
    labels[8:16, 8:16, 1:5] = 1
    labels[16:24, 8:16, 1:5] = 5
    for name in ("s1", "s2"):
        _write_pair(tmp_path, name, labels)
    (tmp_path / "labels.json").write_text(json.dumps(VERTEBRAE))
    data = load_mr_training_data(tmp_path, spacing="native", validation_fraction=0.5)
    assert data.num_classes == 6 and [v.name for v in data.training] == ["s1"]
    assert [v.name for v in data.validation] == ["s2"] and not data.validation_is_training
    assert data.training[0].labels.max() == 5 and data.training[0].image.dtype == np.float32
    bad = labels.copy()
    bad[0, 0, 0] = 9
    _write_pair(tmp_path, "s3", bad)
    with pytest.raises(InputError) as error:
        load_mr_training_data(tmp_path, spacing="native")
    assert "s3_label.nii.gz" in _one_line(error) and "9" in str(error.value)


def test_source_must_be_one_of_data_or_phantoms(tmp_path):
    with pytest.raises(InputError):
        load_mr_training_data()
    with pytest.raises(InputError):
        load_mr_training_data(tmp_path, phantoms=2)


def test_phantoms_with_a_users_label_set_map_by_name(tmp_path):
    table = lookup_by_name(MR_SPINE_LABELS, {int(k): v for k, v in VERTEBRAE.items()})
    assert table[6] == 1 and table[2] == 5 and table[1] == 0 and table[12] == 0
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(VERTEBRAE))
    data = load_mr_training_data(phantoms=1, labels=path, spacing=(3.0, 3.0, 4.4))
    assert data.num_classes == 6
    assert set(np.unique(data.training[0].labels)) == {0, 1, 2, 3, 4, 5}
    assert data.validation_is_training


def test_validation_split_counts():
    assert validation_count(1, 0.2) == 0
    assert validation_count(2, 0.2) == 1
    assert validation_count(8, 0.25) == 2
    assert validation_count(10, 0.0) == 0
    with pytest.raises(InputError):
        validation_count(5, 1.0)
