"""``describe_environment()``: versions, backends and GPUs, for ``spine-rt doctor`` and run reports.

It never raises: every question is asked separately and a failure is
recorded under ``"problems"`` instead. Values are plain JSON types.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from typing import Any, Callable

from spine_rt.dependencies import is_available


def describe_environment() -> dict[str, Any]:
    """What this machine offers spine-rt.

    Returns:
        A dict with the keys ``python``, ``platform``, ``spine_rt``, ``numpy``,
        ``onnxruntime``, ``onnxruntime_providers`` (list), ``torch``,
        ``torch_cuda`` (CUDA version torch was built with, or ``None``),
        ``torch_cuda_available`` (bool or ``None`` without torch),
        ``tensorrt``, ``cuda_python``, ``openvino`` (versions or ``None`` when not installed),
        ``cpu`` (``{"model", "avx2", "avx512", "avx512_bf16", "amx",
        "logical_cores", "native_bf16"}``, flags ``None`` where unreadable),
        ``gpus`` (list of ``{"index", "name", "compute_capability",
        "total_memory_gib", "source"}``; ``None`` when nothing installed can
        tell), ``backends`` (available ``"name on device"``, best first),
        ``auto_backend`` (``{"name", "device", "reason"}`` or ``None``) and
        ``problems`` (list of ``"what: error"`` lines).
    """
    problems: list[str] = []

    def ask(what: str, question: Callable[[], Any], default: Any = None) -> Any:
        try:
            return question()
        except Exception as exc:  # the doctor reports every failure, it never stops at one
            problems.append(f"{what}: {type(exc).__name__}: {exc}")
            return default

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": ask("platform", platform.platform),
        "spine_rt": ask("spine_rt", _spine_rt_version),
        "numpy": ask("numpy", lambda: _module_version("numpy")),
        "onnxruntime": ask("onnxruntime", lambda: _module_version("onnxruntime")),
        "onnxruntime_providers": ask("onnxruntime providers", _onnxruntime_providers, []),
        "torch": ask("torch", lambda: _module_version("torch")),
        "torch_cuda": None,
        "torch_cuda_available": None,
        "tensorrt": ask("tensorrt", _tensorrt_version),
        "cuda_python": ask("cuda-python", _cuda_python_version),
        "openvino": ask("openvino", _openvino_version),
        "cpu": ask("CPU capabilities", _cpu_capabilities),
    }
    if info["torch"] is not None:
        info["torch_cuda"] = ask("torch CUDA version", _torch_cuda_version)
        info["torch_cuda_available"] = ask("torch CUDA availability", _torch_cuda_available)
    info["gpus"] = ask("GPUs", _gpus)
    info["backends"] = ask("available backends", _backends, [])
    info["auto_backend"] = ask("backend selection", _auto_backend)
    info["problems"] = problems
    return info


def _spine_rt_version() -> str:
    import spine_rt

    return spine_rt.__version__


def _module_version(module: str) -> str | None:
    """``module.__version__`` when the module is installed, else ``None``."""
    if not is_available(module):
        return None
    imported = importlib.import_module(module)
    return str(getattr(imported, "__version__", "unknown"))


def _onnxruntime_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def _tensorrt_version() -> str | None:
    # The distribution name varies (tensorrt, tensorrt-cu12, ...): ask the module itself.
    return _module_version("tensorrt")


def _cuda_python_version() -> str | None:
    for distribution in ("cuda-python", "cuda-bindings"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _openvino_version() -> str | None:
    if not is_available("openvino"):
        return None
    import openvino

    return str(openvino.get_version())


def _cpu_capabilities() -> dict[str, Any]:
    from spine_rt.runtime.cpu_capabilities import cpu_capabilities

    return cpu_capabilities().as_dict()


def _torch_cuda_version() -> str | None:
    import torch

    return torch.version.cuda


def _torch_cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _gpus() -> list[dict[str, Any]] | None:
    from dataclasses import asdict

    from spine_rt.runtime.gpus import visible_gpus

    gpus = visible_gpus()
    return None if gpus is None else [asdict(gpu) for gpu in gpus]


def _backends() -> list[str]:
    from spine_rt.runtime.backends import available_backends

    return [f"{choice.name} on {choice.device}" for choice in available_backends()]


def _auto_backend() -> dict[str, str]:
    from spine_rt.runtime.backends import select_backend

    choice = select_backend("auto")
    return {"name": choice.name, "device": choice.device, "reason": choice.reason}
