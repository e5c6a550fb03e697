"""The TensorRT extras pin one CUDA major for TensorRT's wheel and cuda-python, and the hint says so.

An unpinned ``cuda-python>=12.0`` resolves to 13.x, which needs an R580+
driver and does not match a CUDA 12 TensorRT wheel or torch cu12x build.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from spine_rt.dependencies import install_hint

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _trt_extras() -> dict[str, list[Requirement]]:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {name: [Requirement(r) for r in reqs] for name, reqs in extras.items()
            if any(Requirement(r).name.startswith("tensorrt") for r in reqs)}


def test_there_is_a_cuda_12_and_a_cuda_13_tensorrt_extra():
    majors = set()
    for requirements in _trt_extras().values():
        tensorrt = [r for r in requirements if r.name.startswith("tensorrt")]
        assert len(tensorrt) == 1 and re.fullmatch(r"tensorrt-cu\d+", tensorrt[0].name), \
            f"{tensorrt}: name the CUDA major of the TensorRT wheel (tensorrt-cuNN), not the metapackage"
        majors.add(int(tensorrt[0].name.rsplit("cu", 1)[1]))
    assert majors == {12, 13}


@pytest.mark.parametrize("extra", ["trt", "trt-cu13"])
def test_cuda_python_major_matches_the_tensorrt_wheel(extra):
    requirements = _trt_extras()[extra]
    major = int(next(r for r in requirements if r.name.startswith("tensorrt")).name.rsplit("cu", 1)[1])
    cuda_python = next(r for r in requirements if r.name == "cuda-python")
    assert cuda_python.specifier.contains(f"{major}.9.0") and cuda_python.specifier.contains(f"{major}.0.0")
    assert not cuda_python.specifier.contains(f"{major + 1}.0.0"), f"{extra}: cuda-python {major + 1}.x would be allowed"
    assert not cuda_python.specifier.contains(f"{major - 1}.9.0")


@pytest.mark.parametrize("module", ["cuda", "cuda.bindings", "tensorrt"])
def test_install_hint_names_both_cuda_majors_and_the_driver(module):
    hint = install_hint(module)
    assert "spine-rt[trt]" in hint and "spine-rt[trt-cu13]" in hint
    assert "cuda-python 12.x" in hint and "cuda-python 13.x" in hint and "R580" in hint
