"""engine.json: round trip and one-line errors for malformed records."""

from __future__ import annotations

import json

import pytest

from engine_key_examples import key_parts
from spine_rt.engines import EngineRecord
from spine_rt.errors import InputError


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
