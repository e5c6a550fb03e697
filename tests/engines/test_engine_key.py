"""Engine keys: stable for equal parts, different when any part differs, refused when a part is unknown."""

from __future__ import annotations

import dataclasses

import pytest

from engine_key_examples import STAGE2_PROFILE, key_parts
from spine_rt.engines import EngineKeyParts, ShapeRange
from spine_rt.engines.engine_key import KEY_LENGTH, tensorrt_key_version
from spine_rt.errors import EnvironmentProblem


def test_key_is_stable():
    first, second = key_parts(), key_parts()
    assert first.key() == second.key()
    assert len(first.key()) == KEY_LENGTH and int(first.key(), 16) >= 0
    # the canonical form is part of the stored format: a changed hash would orphan every stored engine
    assert first.key() == "6d1c2c844f17494e"


def test_profile_order_of_equal_ranges_and_list_or_tuple_do_not_matter():
    as_lists = key_parts(profile=[ShapeRange("volume", [1, 1, 8, 8, 4], [4, 1, 8, 8, 4], [4, 1, 8, 8, 4])])
    assert as_lists.key() == key_parts().key()


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "cd" * 32},
        {"tensorrt_version": "10.3.0.26"},
        {"compute_capability": "8.0"},
        {"profile": (ShapeRange("volume", (1, 1, 8, 8, 4), (4, 1, 8, 8, 4), (8, 1, 8, 8, 4)),)},
        {"profile": (ShapeRange("volume", (1, 1, 8, 8, 4), (2, 1, 8, 8, 4), (4, 1, 8, 8, 4)),)},
        {"profile": (ShapeRange("image", *(STAGE2_PROFILE[0].min, STAGE2_PROFILE[0].opt, STAGE2_PROFILE[0].max)),)},
        {"precision": "fp32"},
        {"version_compatible": True},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_part_changes_the_key(change):
    assert key_parts(**change).key() != key_parts().key()


def test_version_compatible_engines_hash_only_the_major_version():
    assert tensorrt_key_version("10.16.1.11", True) == "10.x"
    assert tensorrt_key_version("10.16.1.11", False) == "10.16.1.11"
    a = key_parts(version_compatible=True, tensorrt_version="10.3.0.26")
    b = key_parts(version_compatible=True, tensorrt_version="10.16.1.11")
    c = key_parts(version_compatible=True, tensorrt_version="11.4.0.106")
    assert a.key() == b.key() != c.key()


@pytest.mark.parametrize(
    ("change", "unknown"),
    [({"tensorrt_version": None}, ("tensorrt_version",)),
     ({"compute_capability": None}, ("compute_capability",)),
     ({"tensorrt_version": None, "compute_capability": None}, ("tensorrt_version", "compute_capability"))],
)
def test_unknown_parts_have_no_key(change, unknown):
    parts = key_parts(**change)
    assert parts.unknown_parts == unknown
    assert parts.key_or_none() is None
    with pytest.raises(EnvironmentProblem, match="unknown on this machine"):
        parts.key()


def test_dict_round_trip():
    for parts in (key_parts(), key_parts(version_compatible=True), key_parts(tensorrt_version=None)):
        assert EngineKeyParts.from_dict(parts.to_dict()) == parts


def test_parts_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        key_parts().precision = "fp32"
