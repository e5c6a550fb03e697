"""The CLI with OpenVINO: an explicit but unavailable openvino exits 3 with the install hint (never a silent
fallback); infer and demo take ``--backend openvino`` and ``--precision``; doctor shows OpenVINO and the CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import pytest

from spine_rt.cli import main
from spine_rt.phantoms import spine_mr

#: run the CLI in a fresh interpreter where ``import openvino`` fails, as on a machine without it
WITHOUT_OPENVINO = ("import sys; sys.modules['openvino'] = None; "
                    "from spine_rt.cli.main import main; sys.exit(main(sys.argv[1:]))")


def run_without_openvino(*argv: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_OPENVINO, *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def scan_path(tmp_path_factory):
    phantom = spine_mr(3, spacing=(4.4, 2.0, 2.0))
    path = tmp_path_factory.mktemp("scan") / "scan.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, phantom.affine), path)
    return path


@pytest.mark.parametrize("command", [
    ["infer", "{scan}", "--backend", "openvino", "-o", "{out}/labels.nii.gz"],
    ["demo", "--backend", "openvino", "--out", "{out}/demo"],
    ["bench", "--backend", "openvino", "--shape", "12,64,128"],
])
def test_unavailable_openvino_exits_3_with_the_install_hint(command, scan_path, tmp_path):
    argv = [part.format(scan=scan_path, out=tmp_path) for part in command]
    completed = run_without_openvino(*argv, cwd=tmp_path)
    assert completed.returncode == 3, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "openvino not installed" in lines[0] and "pip install openvino" in lines[0]
    assert not list(tmp_path.glob("**/*.nii.gz"))  # nothing written, nothing run on another backend


def test_doctor_without_openvino_says_so(tmp_path):
    completed = run_without_openvino("doctor", "--json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["openvino"] is None
    assert "openvino" not in " ".join(report["backends"])
    assert report["auto backend (cpu)"].startswith("onnxruntime on cpu: device cpu requested; openvino not installed")


@pytest.mark.openvino
def test_doctor_shows_openvino_and_the_cpu(capsys):
    assert main.main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["openvino"]
    assert {"model", "avx512", "avx512_bf16", "amx", "native_bf16"} <= set(report["cpu"])
    assert report["auto backend (cpu)"].startswith("openvino on cpu")


@pytest.mark.openvino
def test_infer_on_openvino_with_a_bad_precision_exits_2(scan_path, tmp_path, capsys):
    argv = ["infer", str(scan_path), "--backend", "openvino", "--precision", "fp16", "-o", str(tmp_path / "l.nii.gz")]
    assert main.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend openvino computes in fp32 (exact) or bf16" in err[0]
    assert not (tmp_path / "l.nii.gz").exists()


@pytest.mark.openvino
def test_infer_on_openvino(scan_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPINE_RT_CACHE_DIR", str(tmp_path / "cache"))
    report_path = tmp_path / "report.json"
    argv = ["infer", str(scan_path), "--backend", "openvino", "--precision", "fp32", "-o",
            str(tmp_path / "labels.nii.gz"), "--report", str(report_path)]
    assert main.main(argv) == 0, capsys.readouterr().err
    report = json.loads(report_path.read_text())
    assert report["backend"] == "openvino" and report["precision"] == "fp32"
    assert (tmp_path / "labels.nii.gz").is_file()
