"""Parity definitions and tolerances, label maps, checkpoint/patch arguments, parity inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spine_rt.anatomy.label_maps import parse_labels, read_labels
from spine_rt.anatomy.label_tables import MR_SPINE_LABELS, XRAY_LABELS
from spine_rt.errors import InputError
from spine_rt.export.checkpoint_arguments import parse_checkpoint_specs, resolve_checkpoints
from spine_rt.export.model_families import EXPORTABLE_MODELS, model_family
from spine_rt.export.parity import TOLERANCES, compare_output, parity_failures
from spine_rt.export.parity_inputs import normalize_mr, parity_inputs

pytestmark = pytest.mark.torch  # the [export] extra's tests


def test_relative_error_is_max_abs_over_reference_max():
    reference = np.array([[[1.0, -4.0]], [[2.0, 0.5]]], dtype=np.float32)  # (2, 1, 2)
    candidate = reference + np.array([[[0.0, 0.02]], [[-0.01, 0.0]]], dtype=np.float32)
    result = compare_output("y", candidate, reference, has_classes=False)
    assert result.max_abs_error == pytest.approx(0.02, rel=1e-4)
    assert result.mean_abs_error == pytest.approx(0.0075, rel=1e-3)
    assert result.relative_error == pytest.approx(0.02 / 4.0, rel=1e-4)
    assert result.argmax_agreement is None


def test_argmax_agreement_over_the_class_axis():
    reference = np.zeros((1, 3, 10), dtype=np.float32)
    reference[0, 1] = 1.0  # class 1 everywhere
    candidate = reference.copy()
    candidate[0, 2, :3] = 2.0  # 3 of 10 voxels flip to class 2
    assert compare_output("p", candidate, reference, has_classes=True).argmax_agreement == pytest.approx(0.7)


def test_tolerances_and_failures():
    assert TOLERANCES["fp32"].max_relative_error == 1e-4
    assert TOLERANCES["fp16"].max_relative_error == 1e-2 and TOLERANCES["fp16"].min_argmax_agreement == 0.995
    reference = np.linspace(-1, 1, 2000, dtype=np.float32).reshape(1, 2, 1000)
    close = compare_output("p", reference * (1 + 5e-5), reference, has_classes=True)
    assert parity_failures([close], "fp32") == [] and parity_failures([close], "fp16") == []
    far = compare_output("p", reference + 0.05, reference, has_classes=True)
    assert parity_failures([far], "fp16") and parity_failures([far], "fp32")
    with pytest.raises(InputError, match="valid precisions"):
        parity_failures([close], "int8")
    with pytest.raises(InputError, match="shape"):
        compare_output("p", reference[:, :1], reference, has_classes=True)


def test_labels_default_and_parsing(tmp_path):
    assert len(MR_SPINE_LABELS) == 20 and MR_SPINE_LABELS[19] == "T9/T10" and MR_SPINE_LABELS[1] == "S"
    assert list(XRAY_LABELS.values()) == ["background", "vertebra", "sacrum", "femoral head 1", "femoral head 2"]
    assert parse_labels(["bg", "a", "b"]) == {0: "bg", 1: "a", 2: "b"}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"1": "bone", "0": "background"}))
    assert read_labels(path) == {0: "background", 1: "bone"}
    for bad in ({"0": "bg", "2": "x"}, ["bg"], {"a": "b", "0": "bg"}, {"0": "bg", "1": ""}, "text"):
        with pytest.raises(InputError):
            parse_labels(bad)
    with pytest.raises(InputError, match="not found"):
        read_labels(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_labels(path)


def test_checkpoint_specs(tmp_path):
    sshsnet, mbnet = model_family("sshsnet"), model_family("mbnet")
    assert parse_checkpoint_specs(sshsnet, ["stage1=a.pt", "stage2=b.pt", "stage2=c.pt"]) == {
        "stage1": ["a.pt"], "stage2": ["b.pt", "c.pt"]}
    assert parse_checkpoint_specs(mbnet, ["m.pt", "xray=n.pt"]) == {"xray": ["m.pt", "n.pt"]}
    with pytest.raises(InputError, match="STAGE=PATH"):
        parse_checkpoint_specs(sshsnet, ["a.pt"])
    with pytest.raises(InputError, match="no stage 'stage3'.*stage1, stage2"):
        parse_checkpoint_specs(sshsnet, ["stage3=a.pt"])
    existing = tmp_path / "a.pt"
    existing.write_bytes(b"x")
    with pytest.raises(InputError, match="no checkpoint for stage stage2"):
        resolve_checkpoints(sshsnet, {"stage1": existing})
    with pytest.raises(InputError, match="checkpoint not found"):
        resolve_checkpoints(sshsnet, {"stage1": existing, "stage2": tmp_path / "missing.pt"})
    assert resolve_checkpoints(mbnet, existing) == {"xray": [existing]}


def test_unknown_model_lists_the_valid_ones():
    assert EXPORTABLE_MODELS == ("sshsnet", "mbnet", "bilunet")
    with pytest.raises(InputError, match="valid models: sshsnet, mbnet, bilunet"):
        model_family("unet")


def test_patch_size_validation():
    stage2 = model_family("sshsnet").stage("stage2")
    assert stage2.check_patch_size([32, 48, 4]) == (32, 48, 4)
    with pytest.raises(InputError, match="multiples of 16"):
        stage2.check_patch_size((30, 32, 4))
    with pytest.raises(InputError, match="3 positive sizes"):
        stage2.check_patch_size((32, 32))


def test_parity_inputs_are_deterministic_and_real_looking():
    config = {"num_classes": 20, "stage_one_feature_channels": 64}
    first = parity_inputs("stage2", config, (32, 32, 4), batch=2, seed=3)
    again = parity_inputs("stage2", config, (32, 32, 4), batch=2, seed=3)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    image = first["image"]
    assert image.shape == (2, 21, 32, 32, 4) and image.dtype == np.float32
    mr = image[:, 0]
    assert (mr == 0).any() and abs(float(mr[mr != 0].mean())) < 1e-3  # background 0, z-scored body
    np.testing.assert_allclose(image[:, 1:].sum(axis=1), 1.0, rtol=1e-5)  # a softmax over the classes
    assert first["stage_one_features"].shape == (2, 64, 8, 8, 4) and first["stage_one_features"].min() >= 0
    slices = parity_inputs("stage1_pair", {}, (32, 64), batch=3)["slices"]
    assert slices.shape == (3, 3, 32, 64)
    np.testing.assert_array_equal(slices[0, 1], slices[1, 0])  # consecutive z-1, z, z+1 triples
    xray = parity_inputs("mbnet", {}, (64, 64), batch=1)["image"]
    assert xray.shape == (1, 3, 64, 64) and 0 <= xray.min() and xray.max() <= 1
    assert normalize_mr(np.zeros((4, 4, 2))).max() == 0
