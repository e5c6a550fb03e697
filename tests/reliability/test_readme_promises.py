"""What the README promises of the bundled package holds on a machine without a GPU or TensorRT."""

from __future__ import annotations

import json

import spine_rt
from spine_rt.cli import main
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.default_model import default_package_path, default_xray_package_path


def test_the_bundled_package_has_verified_fp16_graphs_and_build_engine_dry_run_plans_them(capsys):
    package = ModelPackage.open(default_package_path(), verify=True)
    for name, stage in package.manifest.stages.items():
        assert {g.precision for g in stage.graphs} == {"fp32", "fp16"}, name
    parity = [r for r in package.manifest.provenance["parity"] if r["precision"] == "fp16"]
    assert {r["stage"] for r in parity} == {"stage1", "stage2"}
    assert all(r["relative_error"] < 1e-2 for r in parity)
    assert main.main(["build-engine", str(default_package_path()), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [engine["graph"] for engine in plan["engines"]] == ["stage1/fold0.fp16.onnx", "stage2/fold0.fp16.onnx"]


def test_load_pipeline_without_a_package_opens_the_bundled_model():
    with spine_rt.load_pipeline(backend="onnxruntime", device="cpu") as pipe:
        assert pipe.settings()["backend"] == "onnxruntime"
    with spine_rt.load_pipeline("demo", backend="onnxruntime", device="cpu"):
        pass


def test_an_xray_without_model_runs_the_bundled_xray_model(hostile, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main.main(["infer", str(hostile["xray"]), "--backend", "onnxruntime", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("model: mbnet (bundled demo, trained on phantoms only) at ")
    assert str(default_xray_package_path().resolve()) in captured.out.splitlines()[0]
    assert len([line for line in captured.err.splitlines() if "trained on synthetic phantoms only" in line]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["xray_seg.png"]


def test_the_bundled_model_is_named_and_warned_about_on_a_users_scan(hostile, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main.main(["infer", str(hostile["mr"]), "--backend", "onnxruntime", "--device", "cpu",
                      "--report", "r.json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("model: sshsnet (bundled demo, trained on phantoms only) at ")
    warnings = [line for line in captured.err.splitlines() if "trained on synthetic phantoms only" in line]
    assert len(warnings) == 1 and "for trying the software, not for use" in warnings[0]
    model = json.loads((tmp_path / "r.json").read_text())["model"]
    assert model["bundled_demo"] is True and model["spine_rt_version"] == spine_rt.__version__
    assert len(model["sha256"]) == 64 and model["path"] == str(default_package_path().resolve())
