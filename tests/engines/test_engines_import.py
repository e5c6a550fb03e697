"""Importing the engine and TensorRT runner modules needs no tensorrt, cuda-python, torch or onnx."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spine_rt.dependencies import is_available
from spine_rt.errors import EnvironmentProblem


def test_imports_stay_light():
    code = (
        "import sys\n"
        "import spine_rt.engines, spine_rt.engines.tensorrt_build, spine_rt.engines.build\n"
        "import spine_rt.runtime.tensorrt_runner, spine_rt.runtime.cuda_memory, spine_rt.runtime.tensorrt_logger\n"
        "import spine_rt.runtime.torch_cuda_tensors, spine_rt.cli.build_engine\n"
        "from spine_rt.runtime import TensorRTRunner\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorrt', 'cuda', 'torch', 'onnx'))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_building_without_tensorrt_names_the_install_command(tiny_package):
    from spine_rt.engines import BuildOptions, build_engines

    with pytest.raises(EnvironmentProblem, match=r"needs tensorrt, which is not installed.*pypi.nvidia.com") as exc:
        build_engines(tiny_package, BuildOptions())
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(is_available("tensorrt"), reason="TensorRT is installed here")
def test_finding_an_engine_without_tensorrt_says_so(tiny_package):
    from spine_rt.engines import BuildOptions, EngineStore, find_stage_engine, plan_build
    from spine_rt.runtime.machine import MachineFacts
    from spine_rt.model_package import ModelPackage

    package = ModelPackage.open(tiny_package)
    machine = MachineFacts("cuda:0", "10.16.1.11", "9.0", "NVIDIA H200")
    (build,) = plan_build(package, BuildOptions(stages=["stage1"]), machine).stages
    EngineStore(tiny_package).write(stage="stage1", fold=0, graph=build.graph, key_parts=build.key_parts, plan=b"p")
    with pytest.raises(EnvironmentProblem, match="TensorRT is not installed .the engine was built with TensorRT 10.16.1.11."):
        find_stage_engine(tiny_package, "stage1")
