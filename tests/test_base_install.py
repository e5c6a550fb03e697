"""The base install (no torch, no extras) imports, and its CLI answers.

Builds a clean virtualenv, installs the project with ``pip install .`` (not
editable, no extras), and checks that ``import spine_rt`` and every
sub-package import without torch, tensorrt, cuda or monai, and that
``spine-rt --help``, ``--version``, ``doctor`` and every sub-command's
``--help`` run. This is the proof the issue asks for; it takes about a
minute (pip's wheel cache makes later runs faster).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "tensorrt", "cuda", "monai", "onnx", "tritonclient", "openvino")

IMPORT_CHECK = f"""
import sys, importlib, pkgutil
import spine_rt
for info in pkgutil.walk_packages(spine_rt.__path__, "spine_rt."):
    if info.ispkg:
        importlib.import_module(info.name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
assert not heavy, f"heavy modules imported by the base install: {{heavy}}"
print("imports ok")
"""


@pytest.fixture(scope="module")
def base_env(tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("base-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    build = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
        capture_output=True,
        text=True,
        cwd=build,
        env={**os.environ, "PIP_NO_INPUT": "1"},
        timeout=900,
    )
    assert result.returncode == 0, f"pip install . failed:\n{result.stdout}\n{result.stderr}"
    return env_dir


def _run(env_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=env_dir, timeout=120,
                          env={**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"})


@pytest.mark.slow
def test_base_install_has_no_torch(base_env):
    result = _run(base_env, str(base_env / "bin" / "python"), "-c", "import torch")
    assert result.returncode != 0, "the clean base install should not contain torch"


@pytest.mark.slow
def test_import_without_heavy_dependencies(base_env):
    result = _run(base_env, str(base_env / "bin" / "python"), "-c", IMPORT_CHECK)
    assert result.returncode == 0, result.stderr
    assert "imports ok" in result.stdout


@pytest.mark.slow
def test_no_bare_top_level_modules_installed(base_env):
    code = "import importlib.util as u; print([m for m in ('cli','export','engines') if u.find_spec(m)])"
    result = _run(base_env, str(base_env / "bin" / "python"), "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_cli_help_version_and_doctor(base_env):
    exe = str(base_env / "bin" / "spine-rt")
    assert _run(base_env, exe, "--help").returncode == 0
    version = _run(base_env, exe, "--version")
    assert version.returncode == 0 and version.stdout.startswith("spine-rt ")
    doctor = _run(base_env, exe, "doctor")
    assert doctor.returncode == 0, doctor.stderr
    assert "not installed" in doctor.stdout  # torch and TensorRT are absent here


@pytest.mark.slow
def test_every_subcommand_help_runs(base_env):
    python = str(base_env / "bin" / "python")
    listing = _run(base_env, python, "-c",
                   "from spine_rt.cli.main import build_parser; p = build_parser();"
                   "print(' '.join(p._subparsers._group_actions[0].choices))")
    assert listing.returncode == 0, listing.stderr
    commands = listing.stdout.split()
    assert commands
    for command in commands:
        result = _run(base_env, str(base_env / "bin" / "spine-rt"), command, "--help")
        assert result.returncode == 0, f"spine-rt {command} --help failed: {result.stderr}"
