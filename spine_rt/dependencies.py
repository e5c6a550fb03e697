"""Optional dependencies: import them lazily, fail with the install hint.

``import spine_rt`` needs only numpy, nibabel, pydicom, onnxruntime, scipy,
pillow and tqdm; the level check and measurements import ``cc3d``
(connected-components-3d, a base dependency) when they run. torch, onnx, monai, tensorrt and cuda-python are imported
through :func:`require` inside the functions that need them; openvino (a base
dependency, but one a user may remove) inside the OpenVINO runner.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from spine_rt.errors import EnvironmentProblem

#: module name -> (pip extra of spine-rt, extra words for the hint)
INSTALL_HINTS: dict[str, tuple[str, str]] = {
    "torch": ("export", "on a CPU-only machine: pip install torch==2.13.0 -c constraints-cpu.txt"),
    "onnx": ("export", ""),
    "onnxscript": ("export", ""),
    "monai": ("export", ""),
    "tensorrt": ("trt", "TensorRT wheels come from NVIDIA's index: pip install --extra-index-url https://pypi.nvidia.com "
                        "'spine-rt[trt]'; " + "{cuda}"),
    "cuda": ("trt", "{cuda}"),
    "pylibjpeg": ("dicom", ""),
    "tritonclient": ("serve", ""),
}


#: the CUDA major must be one for torch's CUDA build, TensorRT's wheel and cuda-python (pyproject extras)
CUDA_MAJOR_HINT = ("one CUDA major for torch, TensorRT and cuda-python: 'spine-rt[trt]' is CUDA 12 "
                   "(tensorrt-cu12, cuda-python 12.x, torch cu12x builds, NVIDIA driver R525+), "
                   "'spine-rt[trt-cu13]' is CUDA 13 (tensorrt-cu13, cuda-python 13.x, torch cu13x builds, driver R580+)")

#: cuda-python's CUDA runtime module: ``cuda.bindings.runtime`` (12.6 and later), ``cuda.cudart`` before
CUDA_RUNTIME_MODULES = ("cuda.bindings.runtime", "cuda.cudart")


def install_hint(module: str) -> str:
    """The pip command that provides ``module`` (top-level name)."""
    top = module.split(".")[0]
    extra, words = INSTALL_HINTS.get(top, ("", ""))
    words = words.replace("{cuda}", CUDA_MAJOR_HINT)
    hint = f"pip install 'spine-rt[{extra}]'" if extra else f"pip install {top}"
    return f"{hint} ({words})" if words else hint


def is_available(module: str) -> bool:
    """True when ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cuda_python_installed() -> bool:
    """True when cuda-python's runtime bindings are on disk, without importing anything.

    Not ``is_available("cuda")``: ``cuda`` is a namespace package that other
    wheels (``cuda-pathfinder``, ``cuda-core``, the ``nvidia-cuda-*`` runtime
    wheels) provide too, without the bindings. Nor ``find_spec`` of the
    bindings, which imports ``cuda.bindings``: bindings that fail to import
    (a driver too old for their CUDA major) are installed, and
    :func:`spine_rt.runtime.cuda_memory.cuda_runtime` reports them as broken.
    The files looked for are :data:`CUDA_RUNTIME_MODULES`' (``bindings/runtime*``, ``cudart*``).
    """
    try:
        spec = importlib.util.find_spec("cuda")
    except (ImportError, ValueError):
        return False
    for location in (spec.submodule_search_locations or ()) if spec is not None else ():
        folder = Path(location)
        if any(folder.glob("bindings/runtime*")) or any(folder.glob("cudart*")):
            return True
    return False


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`EnvironmentProblem` naming ``purpose`` and the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EnvironmentProblem(
            f"{purpose} needs {module.split('.')[0]}, which is not installed ({exc}); install it with: {install_hint(module)}"
        ) from None
