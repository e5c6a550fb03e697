"""Engine keys, requirements and engine.json records (spine_rt.engines.key).

Engine keys: stable for equal parts, different when any part differs, refused when a part is unknown.

What a stored engine does not match, in words: one phrase per key part.

engine.json: round trip and one-line errors for malformed records.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine_key_examples import STAGE2_PROFILE, key_parts
from spine_rt.engines import EngineKeyParts, EngineRecord, EngineRequirement, ShapeRange
from spine_rt.engines.key import KEY_LENGTH, tensorrt_key_version, version_tuple
from spine_rt.errors import EnvironmentProblem, InputError


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


def _here(**changes) -> EngineRequirement:
    fields = dict(onnx_sha256="ab" * 32, precision="fp16", tensorrt_version="10.16.1.11",
                  compute_capability="9.0", graph="stage2/fold0.fp16.onnx")
    fields.update(changes)
    return EngineRequirement(**fields)


def test_matching_engine_has_no_differences():
    assert _here().differences(key_parts()) == []
    assert EngineRequirement.exactly(key_parts()).differences(key_parts()) == []


@pytest.mark.parametrize(
    ("built", "here", "message"),
    [
        ({"compute_capability": "8.0"}, {}, "built for compute capability 8.0, this GPU is 9.0"),
        ({"tensorrt_version": "10.3.0.26"}, {}, "built with TensorRT 10.3.0.26, installed 10.16.1.11"),
        ({"onnx_sha256": "cd" * 32}, {},
         "ONNX changed: the engine was built from stage2/fold0.fp16.onnx with sha256 cdcdcdcdcdcd..., "
         "the package's graph has abababababab..."),
        ({"precision": "fp32"}, {}, "built from the fp32 graph, fp16 requested"),
        ({}, {"compute_capability": None}, "no GPU visible (the engine was built for compute capability 9.0)"),
        ({}, {"tensorrt_version": None}, "TensorRT is not installed (the engine was built with TensorRT 10.16.1.11)"),
        ({}, {"batch": 6}, "built for batch 1..4 (input 'volume'), batch 6 requested (rebuild with --max-batch 6)"),
        ({}, {"version_compatible": True}, "built without --version-compatible, a version-compatible engine requested"),
        ({"version_compatible": True}, {"version_compatible": False},
         "built with --version-compatible, a plain engine requested"),
    ],
)
def test_each_part_has_its_message(built, here, message):
    assert _here(**here).differences(key_parts(**built)) == [message]


def test_profile_difference_names_both_profiles():
    wanted = (ShapeRange("volume", (1, 1, 8, 8, 4), (8, 1, 8, 8, 4), (8, 1, 8, 8, 4)),)
    (message,) = _here(profile=wanted).differences(key_parts())
    assert message.startswith("built for profile volume min (1, 1, 8, 8, 4) opt (4, 1, 8, 8, 4) max (4, 1, 8, 8, 4);")
    assert message.endswith("requested volume min (1, 1, 8, 8, 4) opt (8, 1, 8, 8, 4) max (8, 1, 8, 8, 4)")


def test_several_differences_are_all_listed():
    differences = _here().differences(key_parts(compute_capability="8.0", tensorrt_version="10.3.0.26"))
    assert differences == ["built with TensorRT 10.3.0.26, installed 10.16.1.11",
                           "built for compute capability 8.0, this GPU is 9.0"]


@pytest.mark.parametrize(
    ("built", "installed", "usable"),
    [("10.3.0.26", "10.16.1.11", True), ("10.16.1.11", "10.16.1.11", True),
     ("10.16.1.11", "10.3.0.26", False), ("10.3.0.26", "11.4.0.106", False)],
)
def test_version_compatible_engines_run_on_later_tensorrt_of_the_same_major(built, installed, usable):
    differences = _here(tensorrt_version=installed).differences(
        key_parts(version_compatible=True, tensorrt_version=built))
    assert (differences == []) is usable
    if not usable:
        assert differences == [f"built with TensorRT {built} (version-compatible: runs on TensorRT "
                               f"{built.split('.')[0]}.x from {built} on), installed {installed}"]


def test_batch_inside_the_profile_is_fine():
    assert _here(batch=1).differences(key_parts()) == []
    assert _here(batch=4).differences(key_parts()) == []


def test_version_tuple():
    assert version_tuple("10.16.1.11") == (10, 16, 1, 11)
    assert version_tuple("11.0.0rc1") == (11, 0, 0)
    assert version_tuple("10.3") < version_tuple("10.16")


def _record(**changes) -> EngineRecord:
    parts = key_parts()
    fields = dict(key=parts.key(), stage="stage2", fold=0, graph="stage2/fold0.fp16.onnx", plan="stage2.plan",
                  plan_sha256="ef" * 32, plan_bytes=123, key_parts=parts,
                  build={"workspace_mb": 1024, "opt_level": None, "gpu_name": "NVIDIA H200"})
    fields.update(changes)
    return EngineRecord(**fields)


def test_round_trip():
    record = _record()
    assert EngineRecord.from_json(record.to_json()) == record


def test_key_parts_are_in_clear():
    data = json.loads(_record().to_json())
    assert data["key_parts"]["tensorrt_version"] == "10.16.1.11"
    assert data["key_parts"]["compute_capability"] == "9.0"
    assert data["key_parts"]["precision"] == "fp16"
    assert data["key_parts"]["profile"] == [{"name": "volume", "min": [1, 1, 8, 8, 4], "opt": [4, 1, 8, 8, 4],
                                             "max": [4, 1, 8, 8, 4]}]
    assert data["key_parts"]["onnx_sha256"] == "ab" * 32 and data["key_parts"]["version_compatible"] is False


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format_version=7), "format_version 7 is not supported"),
        (lambda d: d.pop("plan_sha256"), "malformed engine record"),
        (lambda d: d["key_parts"].pop("profile"), "malformed engine record"),
        (lambda d: d.update(fold="x"), "malformed engine record"),
    ],
)
def test_malformed_records_are_one_line(edit, message):
    data = json.loads(_record().to_json())
    edit(data)
    with pytest.raises(InputError, match=message) as exc:
        EngineRecord.from_json(json.dumps(data), source="engine.json")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("engine.json: ")


def test_not_json():
    with pytest.raises(InputError, match="not valid JSON"):
        EngineRecord.from_json("{", source="x/engine.json")
    with pytest.raises(InputError, match="must hold a JSON object"):
        EngineRecord.from_json("[1]")
