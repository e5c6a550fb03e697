"""``spine-rt build-engine``: dry-run JSON on any machine, exit codes for bad input and a missing TensorRT."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from spine_rt.cli import main
from spine_rt.dependencies import is_available

pytest.importorskip("onnx")

_HELPER = Path(__file__).resolve().parents[1] / "engines" / "tiny_engine_package.py"


def _write_tiny_package(root: Path, **options) -> Path:
    spec = importlib.util.spec_from_file_location("tiny_engine_package_for_cli", _HELPER)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    return helper.write_tiny_package(root, **options)


@pytest.fixture
def package(tmp_path) -> Path:
    return _write_tiny_package(tmp_path / "pkg")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_help_is_listed(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["build-engine", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--max-batch", "--opt-batch", "--min-batch", "--workspace", "--timing-cache", "--opt-level",
                   "--version-compatible", "--rebuild", "--dry-run", "--device", "--stages", "--precision"):
        assert option in out


def test_dry_run_prints_the_plan(package, capsys):
    assert main.main(["build-engine", str(package), "--dry-run", "--max-batch", "8", "--opt-batch", "4"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["precision"] == "fp16" and plan["batch"] == {"min": 1, "opt": 4, "max": 8}
    assert [e["stage"] for e in plan["engines"]] == ["stage1", "stage2"]
    stage2 = plan["engines"][1]
    assert stage2["graph"] == "stage2/fold0.fp16.onnx"
    assert stage2["profile"][0]["max"] == [8, 1, 8, 8, 4]
    assert set(stage2["key_parts"]) == {"onnx_sha256", "tensorrt_version", "compute_capability", "profile",
                                        "precision", "version_compatible"}


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_dry_run_marks_tensorrt_not_installed(package, capsys):
    assert main.main(["build-engine", str(package), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["machine"]["tensorrt_version"] == "not installed"
    assert plan["engines"][0]["key_parts"]["tensorrt_version"] == "not installed"
    assert plan["engines"][0]["key"] is None
    assert plan["engines"][0]["action"] == "cannot build on this machine"
    assert "TensorRT: not installed" in plan["missing_on_this_machine"]


def test_dry_run_with_fp32_and_selected_stage(package, capsys):
    assert main.main(["build-engine", str(package), "--dry-run", "--precision", "fp32", "--stages", "stage2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [e["graph"] for e in plan["engines"]] == ["stage2/fold0.fp32.onnx"]


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_real_build_without_tensorrt_exits_3_with_the_hint(package, capsys):
    assert main.main(["build-engine", str(package)]) == 3
    err = _error_line(capsys)
    assert "tensorrt" in err and "pip install" in err and "pypi.nvidia.com" in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--opt-batch", "8", "--max-batch", "4"], "min <= opt <= max, got min 1, opt 8, max 4"),
        (["--max-batch", "0"], "max batch must be a positive integer"),
        (["--min-batch", "5", "--max-batch", "4"], "min <= opt <= max"),
        (["--opt-level", "7"], "opt level must be an integer from 0 to 5"),
        (["--workspace", "0"], "workspace must be a positive number of MiB"),
        (["--device", "cpu"], "built on a CUDA device"),
        (["--stages", "nope"], "no stage 'nope'"),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "build"])
def test_bad_input_exits_2_in_one_line(package, capsys, arguments, message, dry_run):
    argv = ["build-engine", str(package), *arguments, *(["--dry-run"] if dry_run else [])]
    assert main.main(argv) == 2
    assert message in _error_line(capsys)


def test_missing_package_exits_2(tmp_path, capsys):
    assert main.main(["build-engine", str(tmp_path / "missing"), "--dry-run"]) == 2
    assert "not a model package" in _error_line(capsys)


def test_package_without_fp16_graph_exits_2(tmp_path, capsys):
    package = _write_tiny_package(tmp_path / "pkg32", precisions=("fp32",))
    assert main.main(["build-engine", str(package)]) == 2
    assert "has no fp16 graph" in _error_line(capsys)
    assert main.main(["build-engine", str(package), "--precision", "fp32", "--dry-run"]) == 0


def test_usage_error_for_non_numbers(package, capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["build-engine", str(package), "--max-batch", "many"])
    assert exc.value.code == 2
