"""What a stored engine does not match, in words: one phrase per key part."""

from __future__ import annotations

import pytest

from engine_key_examples import key_parts
from spine_rt.engines import EngineRequirement, ShapeRange
from spine_rt.engines.engine_requirement import version_tuple


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
