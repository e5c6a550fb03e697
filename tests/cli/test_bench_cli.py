"""``spine-rt bench``: the report's fields on a tiny volume, and one-line exit 2 on bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from spine_rt.cli import main

@pytest.fixture(scope="module")
def small_package(tiny_sshsnet_package):
    pytest.importorskip("monai")
    return tiny_sshsnet_package.root


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--model", "--backend", "--device", "--shape", "--phantom", "--repeat", "--warmup",
                   "--baselines", "--json", "--threads", "--preset", "--patch-only", "--patch-engines"):
        assert option in out


@pytest.mark.parametrize("argv", [
    ["bench", "--shape", "12,64"],
    ["bench", "--shape", "twelve,64,128"],
    ["bench", "--shape", "12,8,128"],
    ["bench", "--shape", "12,64,128", "--baselines", "nnunet"],
    ["bench", "--shape", "12,64,128", "--model", "/no/such/package"],
])
def test_bad_input_exits_2_with_one_line(argv, capsys):
    assert main.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spine-rt bench: error:")


def test_shape_and_phantom_exclude_each_other():
    with pytest.raises(SystemExit) as exc:
        main.main(["bench", "--shape", "12,64,128", "--phantom"])
    assert exc.value.code == 2


@pytest.mark.torch
def test_report_fields_without_model(small_package, tmp_path, monkeypatch, capsys):
    """No --model: the benchmark exports a random-init package (here: a copy of a small one) and says so."""
    from spine_rt.bench import pipeline_benchmark

    def export_small(folder, preset="tiny", fp16=False):
        return shutil.copytree(small_package, tmp_path / "exported" / "sshsnet_tiny")

    monkeypatch.setattr(pipeline_benchmark, "export_bench_package", export_small)
    report_path = tmp_path / "bench.json"
    argv = ["bench", "--shape", "12,64,128", "--repeat", "1", "--warmup", "0", "--threads", "1",
            "--backend", "onnxruntime", "torch", "--baselines", "reference,monai", "--json", str(report_path)]
    assert main.main(argv) == 0
    captured = capsys.readouterr()
    assert "random-init" in captured.err
    assert "plan: 4 configuration(s)" in captured.err and "[round 1/1, call 4/4]" in captured.err
    assert "spine-rt fast (onnxruntime)" in captured.out and "MONAI" in captured.out

    report = json.loads(report_path.read_text())
    assert report["tool"] == "spine-rt bench"
    assert report["model"]["random_weights"] is True
    assert report["input"]["shape"] == [12, 64, 128]
    assert report["settings"]["device"] == "cpu"
    assert report["environment"]["onnxruntime"]
    assert report["machine"]["before"]["cpu_model"]
    assert any("random-init" in note for note in report["notes"])
    names = [run["name"] for run in report["runs"]]
    assert names[0] == report["primary"] == "spine-rt fast (onnxruntime)"
    assert "spine-rt fast (torch)" in names
    assert {"authors' schedule (torch fp32)", "MONAI sliding window (torch fp32)"} <= set(names)
    for run in report["runs"]:
        for key in ("end_to_end", "stages", "backend", "overhead_fraction", "stage_two_patches", "patches_per_s",
                    "voxels_per_s", "peak_host_memory_bytes", "peak_gpu_memory_bytes", "time_ratio_vs_primary",
                    "dice_vs_primary", "settings", "timer"):
            assert key in run, (run["name"], key)
        assert set(run["end_to_end"]) == {"median_s", "p95_s", "samples_s"}
        assert len(run["end_to_end"]["samples_s"]) == 1
        assert {"stage_one", "stage_two"} <= set(run["stages"])
        assert run["stage_two_patches"]["run"] > 0
        assert 0.0 <= run["overhead_fraction"] <= 1.0
        assert 0.0 <= run["dice_vs_primary"] <= 1.0
        assert run["peak_host_memory_bytes"] > 0
        assert run["peak_gpu_memory_bytes"] is None
        assert run["timer"] == "perf_counter"
    assert report["runs"][0]["time_ratio_vs_primary"] == 1.0
    assert report["runs"][0]["dice_vs_primary"] == 1.0


@pytest.mark.torch
def test_a_baseline_beyond_the_memory_available_is_left_out_with_the_figures(small_package, tmp_path, monkeypatch,
                                                                              capsys):
    """The paper-size MONAI baseline needs ~26 GiB on the MRSpineSeg phantom: the bench must leave it out before
    the run (with the estimate) rather than be killed for memory after the other configurations ran."""
    pytest.importorskip("monai")
    from spine_rt.bench.segmenters import MonaiBaseline

    monkeypatch.setattr(MonaiBaseline, "memory_needed", lambda self, image, affine: 2**50)
    report_path = tmp_path / "bench.json"
    argv = ["bench", "--model", str(small_package), "--shape", "12,64,128", "--repeat", "1", "--warmup", "0",
            "--threads", "1", "--backend", "onnxruntime", "--baselines", "monai", "--json", str(report_path)]
    assert main.main(argv) == 0
    captured = capsys.readouterr()
    assert "left out: needs about 1048576.0 GiB for this input (estimate)" in captured.err
    assert "plan: 1 configuration(s)" in captured.err
    report = json.loads(report_path.read_text())
    assert [run["name"] for run in report["runs"]] == ["spine-rt fast (onnxruntime)"]
    assert any(note.startswith("monai left out: needs about") for note in report["notes"])


@pytest.mark.torch
@pytest.mark.openvino
def test_patch_only_compares_the_cpu_engines_on_one_patch(small_package, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    report_path = tmp_path / "bench.json"
    argv = ["bench", "--model", str(small_package), "--patch-only", "--repeat", "1", "--json", str(report_path)]
    assert main.main(argv) == 0
    captured = capsys.readouterr()
    assert "stage2 round 1/1" in captured.err and "GFLOP/CPU s" in captured.out
    report = json.loads(report_path.read_text())
    assert report["runs"] == [] and report["primary"] is None
    comparison = report["extras"]["stage_two_per_patch"]
    engines = [timing["engine"] for timing in comparison["engines"]]
    assert engines[:2] == ["onnxruntime:fp32", "openvino:fp32"] and comparison["threads"] == 1
    assert comparison["gflop_per_patch"] > 0
    by_engine = {timing["engine"]: timing for timing in comparison["engines"]}
    assert by_engine["openvino:fp32"]["argmax_agreement"] >= 0.999
    assert by_engine["openvino:fp32"]["max_abs_error"] < 1e-3
    for timing in comparison["engines"]:
        assert timing["cpu_seconds_per_patch"] > 0 and 0 < timing["fraction_of_peak"]
    assert report["extras"]["matmul_peak"]["fp32"]["gflops_per_cpu_second"] > 0


@pytest.mark.openvino
def test_bf16_that_the_gate_refuses_is_timed_and_said_so(tiny_sshsnet_package, tmp_path, monkeypatch, capsys):
    """The bench loads with ``bf16_gate="report"``: a BF16 configuration is timed (a speed figure) and the notes
    say the pipelines refuse it, with the figure. A real gate verdict on this random-weight package is
    whatever it is, so the refusal is made certain by a failed verdict stored where the gate reads it."""
    from spine_rt.runtime.machine import cpu_capabilities

    if not cpu_capabilities().native_bf16:
        pytest.skip("this CPU has neither AVX512_BF16 nor AMX")
    from spine_rt.pipelines import bf16_gate

    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    failed = bf16_gate.Bf16Verdict(0.9, 1.0, 0.5, False, "made up")
    monkeypatch.setattr(bf16_gate, "check_bf16", lambda *args, **kwargs: failed)
    report_path = tmp_path / "bench.json"
    argv = ["bench", "--model", str(tiny_sshsnet_package.root), "--shape", "12,64,128", "--repeat", "1",
            "--warmup", "0", "--threads", "1", "--backend", "openvino:bf16", "--json", str(report_path)]
    assert main.main(argv) == 0
    report = json.loads(report_path.read_text())
    assert [run["name"] for run in report["runs"]] == ["spine-rt fast (openvino bf16)"]
    note = next(note for note in report["notes"] if "BF16 gate refuses" in note)
    assert "stage1 90.00 %" in note and "stage2 90.00 %" in note and "not for use" in note
    assert "BF16 gate refuses" in capsys.readouterr().err
