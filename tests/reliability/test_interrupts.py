"""Runs that are killed or race each other: SIGTERM, SIGKILL leftovers, two runs publishing one output.

These start ``python -m spine_rt.cli`` as a subprocess (signals need a
process of their own) on the tests' tiny package.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import dead_pid, leftovers, tree_digest

pytestmark = pytest.mark.torch


def _spine_rt(*arguments: str, cwd: Path) -> subprocess.Popen:
    environment = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "spine_rt.cli", *arguments], cwd=cwd, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_line(process: subprocess.Popen, start: str, timeout: float = 240.0) -> None:
    """Read stdout until a line starting with ``start`` (the run has loaded its model)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(start):
            return
        if not line and process.poll() is not None:
            raise AssertionError(f"the run ended before {start!r}: {process.stderr.read()}")
    raise AssertionError(f"no {start!r} line within {timeout} s")


def _infer_arguments(source: Path, package: str, *more: str) -> list[str]:
    return ["infer", str(source), "--model", package, "--backend", "onnxruntime", "--device", "cpu", "--tta", *more]


@pytest.mark.parametrize("cohort", [False, True], ids=["one scan", "cohort"])
def test_sigterm_cleans_up_and_says_so(cohort, hostile, tiny_sshsnet_package, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    source = hostile["cohort"] if cohort else hostile["mr"]
    target = out / ("seg" if cohort else "s.nii.gz")
    before = tree_digest(hostile["mr"].parent)
    process = _spine_rt(*_infer_arguments(source, str(tiny_sshsnet_package.root), "-o", str(target),
                                          *([] if cohort else ["--report", str(out / "s.json"),
                                                               "--qc", str(out / "s.png")])), cwd=tmp_path)
    _wait_for_line(process, "model: ")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("spine-rt infer: terminated (SIGTERM)") and "Traceback" not in stderr
    assert leftovers(tmp_path) == []
    if cohort:  # no case has half of its outputs
        names = sorted(p.name for p in target.iterdir())
        for case in "abc":
            assert (f"{case}_seg.nii.gz" in names) == (f"{case}_report.json" in names)
    else:
        assert sorted(p.name for p in out.iterdir()) == []
    assert tree_digest(hostile["mr"].parent) == before


def test_temporaries_of_a_killed_run_are_removed_by_the_next(hostile, tiny_sshsnet_package, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".s.nii.gz.spine-rt-tmp-{dead_pid()}-0123abcd.nii.gz"
    stale.write_bytes(b"half a label map")
    process = _spine_rt("infer", str(hostile["mr"]), "--model", str(tiny_sshsnet_package.root), "--backend",
                        "onnxruntime", "--device", "cpu", "-o", str(out / "s.nii.gz"), cwd=tmp_path)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["s.nii.gz"]


def test_two_runs_to_one_output_give_one_result_and_one_exit_2(hostile, tiny_sshsnet_package, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    arguments = ["infer", str(hostile["mr"]), "--model", str(tiny_sshsnet_package.root), "--backend",
                 "onnxruntime", "--device", "cpu", "-o", str(out / "s.nii.gz"), "--report", str(out / "s.json")]
    runs = [_spine_rt(*arguments, cwd=tmp_path) for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], results
    failed = results[[run.returncode for run in runs].index(2)][1]
    assert "exists" in failed and "--overwrite" in failed and "Traceback" not in failed
    assert sorted(p.name for p in out.iterdir()) == ["s.json", "s.nii.gz"]
    assert leftovers(tmp_path) == []
