"""Model package manifest: JSON round trip, validation, sha256 checks."""

from __future__ import annotations

import json

import pytest

from spine_rt.errors import InputError
from spine_rt.model_package import GraphFile, Manifest, ModelPackage, Stage, TensorEntry, sha256_file


def _manifest(files: dict[str, str]) -> Manifest:
    stage = Stage(
        network="stage2",
        preset="tiny",
        config={"num_classes": 20},
        patch_size=(192, 192, 12),
        inputs=(TensorEntry("image", (None, 21, 192, 192, 12)),),
        outputs=(TensorEntry("logits", (None, 20, 192, 192, 12)),),
        graphs=(GraphFile("stage2/fold0.fp32.onnx", "fp32"),),
    )
    return Manifest(task="spine_mr", model="sshsnet", labels={0: "background", 1: "S"},
                    preprocessing={"axes": ["I", "P", "R"]}, stages={"stage2": stage}, files=files)


@pytest.fixture
def package(tmp_path):
    (tmp_path / "stage2").mkdir()
    graph = tmp_path / "stage2" / "fold0.fp32.onnx"
    graph.write_bytes(b"not really onnx, only hashed here")
    manifest = _manifest({"stage2/fold0.fp32.onnx": sha256_file(graph)})
    (tmp_path / "manifest.json").write_text(manifest.to_json())
    return tmp_path


def test_manifest_json_round_trip():
    manifest = _manifest({"a": "0" * 64})
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_open_and_resolve(package):
    opened = ModelPackage.open(package)
    assert opened.manifest.labels[1] == "S"
    assert opened.graph_path("stage2", "fp32") == (package / "stage2" / "fold0.fp32.onnx").resolve()
    assert opened.stage("stage2").folds == (0,)


def test_modified_file_is_reported(package):
    (package / "stage2" / "fold0.fp32.onnx").write_bytes(b"tampered")
    with pytest.raises(InputError, match="does not match the manifest's sha256"):
        ModelPackage.open(package)


def test_missing_file_is_reported(package):
    (package / "stage2" / "fold0.fp32.onnx").unlink()
    with pytest.raises(InputError, match="listed in the manifest but missing"):
        ModelPackage.open(package)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format_version=99), "format_version 99 is not supported"),
        (lambda d: d.update(task="ct"), "unknown task 'ct'"),
        (lambda d: d.pop("stages"), "malformed manifest"),
        (lambda d: d["stages"]["stage2"]["graphs"][0].update(precision="int8"), "unknown precision 'int8'"),
    ],
)
def test_malformed_manifest_is_one_line(package, edit, message):
    data = json.loads((package / "manifest.json").read_text())
    edit(data)
    (package / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=message) as exc:
        ModelPackage.open(package)
    assert "\n" not in str(exc.value)


def test_not_a_package(tmp_path):
    with pytest.raises(InputError, match="no manifest.json"):
        ModelPackage.open(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        ModelPackage.open(tmp_path / "absent")


def test_paths_cannot_escape_the_package(package):
    opened = ModelPackage.open(package)
    with pytest.raises(InputError, match="outside the package"):
        opened.path("../elsewhere.onnx")


def test_postprocessing_round_trips_and_is_absent_when_empty():
    import dataclasses

    manifest = _manifest({"a": "0" * 64})
    assert "postprocessing" not in json.loads(manifest.to_json())  # packages without it read as before
    assert Manifest.from_json(manifest.to_json()).postprocessing == {}
    recount = dataclasses.replace(manifest, postprocessing={"relabel_levels": True})
    assert json.loads(recount.to_json())["postprocessing"] == {"relabel_levels": True}
    assert Manifest.from_json(recount.to_json()) == recount


@pytest.mark.parametrize(("postprocessing", "message"), [
    ({"largest_component": True}, "unknown postprocessing setting 'largest_component' \\(valid: relabel_levels\\)"),
    ({"relabel_levels": "yes"}, "postprocessing relabel_levels must be a bool, got 'yes'"),
])
def test_a_bad_postprocessing_setting_is_one_line(package, postprocessing, message):
    data = json.loads((package / "manifest.json").read_text())
    data["postprocessing"] = postprocessing
    (package / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        ModelPackage.open(package)
