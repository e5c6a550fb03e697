"""The ``spine-rt`` entry point: help, version, doctor and exit codes."""

from __future__ import annotations

import json

import pytest

from spine_rt import __version__
from spine_rt.cli import doctor, main
from spine_rt.errors import EnvironmentProblem, InputError


def test_help_lists_doctor(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["--help"])
    assert exc.value.code == 0
    assert "doctor" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spine-rt {__version__}"


def test_no_command_prints_help(capsys):
    assert main.main([]) == 0
    assert "usage: spine-rt" in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main.main(["no-such-command"])
    assert exc.value.code == 2


def test_doctor_text_and_json(capsys):
    assert main.main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime" in text and "auto backend (cpu)" in text
    assert main.main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    from spine_rt.dependencies import is_available

    fastest = "openvino" if is_available("openvino") else "onnxruntime"  # the fastest CPU engine installed
    assert report["auto backend (cpu)"].startswith(f"{fastest} on cpu")


@pytest.mark.parametrize(
    ("error", "code"),
    [(InputError("scan.nii.gz: not a NIfTI file"), 2), (EnvironmentProblem("TensorRT is not installed"), 3)],
)
def test_errors_map_to_exit_codes_with_one_line(monkeypatch, capsys, error, code):
    def failing_run(args):
        raise error

    monkeypatch.setattr(doctor, "run", failing_run)
    assert main.main(["doctor"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(error) in err and "Traceback" not in err


def test_internal_bug_exits_1_with_traceback(monkeypatch, capsys):
    def buggy_run(args):
        raise KeyError("oops")

    monkeypatch.setattr(doctor, "run", buggy_run)
    assert main.main(["doctor"]) == 1
    assert "Traceback" in capsys.readouterr().err
