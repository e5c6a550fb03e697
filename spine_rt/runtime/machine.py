"""This machine, asked once: CPU model and flags, usable cores, GPUs, library versions.

Every part of spine-rt that needs a fact about the machine asks here:

* :func:`cpu_capabilities` - CPU model, AVX2/AVX-512/AVX512_BF16/AMX
  (the BF16 gate of the CPU engines, the OpenVINO cache key);
* :func:`usable_cores` - CPU cores this process may run on (its affinity
  mask), the pipeline's host-thread choice and benchmark thread counts;
* :func:`machine_snapshot` - CPU model, cores, load and torch threads now
  (written before and after every benchmark);
* :func:`visible_gpus` - the CUDA devices (torch when it has CUDA, else
  cuda-python);
* :func:`probe_machine` - TensorRT version and the GPU of one device, as the
  engine key needs them (:class:`MachineFacts`);
* :func:`describe_environment` - all of the above plus library versions and
  backends, for ``spine-rt doctor`` and run reports (never raises).

CPU facts come from ``/proc/cpuinfo`` (Linux); elsewhere the flags are
unknown (``None``) and the model name comes from :mod:`platform`. BF16
inference needs native BF16 arithmetic (``avx512_bf16`` or AMX tiles);
without it OpenVINO would emulate BF16, slower than FP32, so spine-rt
refuses it. Neither torch nor cuda-python nor tensorrt is imported at
import time: the function that asks imports what it asks.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from spine_rt.dependencies import cuda_python_installed, is_available
from spine_rt.runtime.devices import cuda_index

CPUINFO = Path("/proc/cpuinfo")
NOT_INSTALLED = "not installed"
NO_GPU = "no GPU visible"


# --- CPU -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU as far as the CPU engines care.

    Attributes:
        model: e.g. ``"Intel(R) Xeon(R) Platinum 8480+"`` (``""`` when unknown).
        avx2 / avx512 / avx512_bf16 / amx: the instruction sets (``amx``: AMX
            tiles with BF16, flags ``amx_tile`` + ``amx_bf16``); ``None`` when
            the flags cannot be read on this system.
        logical_cores: ``os.cpu_count()``.
    """

    model: str
    avx2: bool | None
    avx512: bool | None
    avx512_bf16: bool | None
    amx: bool | None
    logical_cores: int | None

    @property
    def native_bf16(self) -> bool | None:
        """True with AVX512_BF16 or AMX-BF16; ``None`` when the flags are unknown."""
        if self.avx512_bf16 is None and self.amx is None:
            return None
        return bool(self.avx512_bf16) or bool(self.amx)

    def key_text(self) -> str:
        """The capabilities as they enter cache keys: model and the flags, e.g. ``"Xeon|avx512,avx512_bf16,amx"``."""
        flags = [name for name in ("avx2", "avx512", "avx512_bf16", "amx") if getattr(self, name)]
        return f"{self.model}|{','.join(flags) or 'unknown-flags'}"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (``spine-rt doctor``, bench reports)."""
        return {**asdict(self), "native_bf16": self.native_bf16}


def parse_cpuinfo(text: str) -> CpuCapabilities:
    """The capabilities described by the text of ``/proc/cpuinfo`` (its first processor)."""
    model, flags = "", None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
    if flags is None:
        return CpuCapabilities(model, None, None, None, None, os.cpu_count())
    return CpuCapabilities(
        model=model,
        avx2="avx2" in flags,
        avx512="avx512f" in flags,
        avx512_bf16="avx512_bf16" in flags,
        amx={"amx_tile", "amx_bf16"} <= flags,
        logical_cores=os.cpu_count(),
    )


def cpu_capabilities() -> CpuCapabilities:
    """This machine's CPU (flags ``None`` where ``/proc/cpuinfo`` cannot be read)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        text = ""
    capabilities = parse_cpuinfo(text)
    if not capabilities.model:
        fallback = platform.processor() or platform.machine() or "unknown"
        capabilities = CpuCapabilities(fallback, capabilities.avx2, capabilities.avx512,
                                       capabilities.avx512_bf16, capabilities.amx, capabilities.logical_cores)
    return capabilities


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """1, 5 and 15 minute load averages, or ``None`` where the system does not tell."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def machine_snapshot() -> dict[str, Any]:
    """The machine now, as benchmarks record it before and after a run.

    Returns:
        ``{"cpu_model", "usable_cores", "logical_cpus", "load_average_1_5_15_min",
        "torch_threads"}``; ``torch_threads`` is ``None`` unless torch has
        already been imported (asking must not import it).
    """
    torch = sys.modules.get("torch")
    return {
        "cpu_model": cpu_capabilities().model,
        "usable_cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "load_average_1_5_15_min": load_average(),
        "torch_threads": None if torch is None else int(torch.get_num_threads()),
    }


# --- GPUs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuInfo:
    """One visible CUDA device.

    Attributes:
        index: CUDA ordinal (the ``N`` of ``"cuda:N"``).
        name: marketing name, e.g. ``"NVIDIA H200"``.
        compute_capability: ``"major.minor"``, e.g. ``"9.0"``.
        total_memory_gib: device memory in GiB.
        source: ``"torch"`` or ``"cuda-python"``, whichever answered.
    """

    index: int
    name: str
    compute_capability: str
    total_memory_gib: float
    source: str


def visible_gpus() -> tuple[GpuInfo, ...] | None:
    """The CUDA devices visible to this process, or ``None`` when nothing installed can tell.

    Order of questions: torch (when installed and built with CUDA and it sees
    a device), then cuda-python, then torch's "no device" answer.

    Raises:
        Exception: whatever torch or cuda-python raise on a broken installation;
            callers that must not fail (:func:`describe_environment`) catch it.
    """
    torch_installed = is_available("torch")
    if torch_installed:
        import torch

        if torch.cuda.is_available():
            return tuple(_torch_gpu(torch, index) for index in range(torch.cuda.device_count()))
    if cuda_python_installed():
        gpus = _cuda_python_gpus()
        if gpus is not None:
            return gpus
    return () if torch_installed else None


def _torch_gpu(torch, index: int) -> GpuInfo:
    props = torch.cuda.get_device_properties(index)
    return GpuInfo(index, str(props.name), f"{props.major}.{props.minor}",
                   round(props.total_memory / 2**30, 1), "torch")


def _cuda_python_gpus() -> tuple[GpuInfo, ...] | None:
    from spine_rt.runtime.cuda_memory import cuda_runtime  # raises on a broken cuda-python

    runtime = cuda_runtime()
    success = runtime.cudaError_t.cudaSuccess
    err, count = runtime.cudaGetDeviceCount()
    if err != success:
        return ()  # no driver or no device: CUDA itself says there is nothing to use
    gpus = []
    for index in range(count):
        err, props = runtime.cudaGetDeviceProperties(index)
        if err != success:
            continue
        name = props.name
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
        gpus.append(GpuInfo(index, str(name), f"{props.major}.{props.minor}",
                            round(props.totalGlobalMem / 2**30, 1), "cuda-python"))
    return tuple(gpus)


# --- TensorRT and the GPU of an engine -----------------------------------------------------------

@dataclass(frozen=True)
class MachineFacts:
    """The build/run machine as far as TensorRT engines care (the machine part of an engine key).

    Attributes:
        device: ``"cuda:N"``, the GPU the engine is for.
        tensorrt_version: ``tensorrt.__version__``, or ``None`` with ``tensorrt_problem`` saying why.
        compute_capability: ``"major.minor"`` of ``device``, or ``None`` with ``gpu_problem`` saying why.
        gpu_name: e.g. ``"NVIDIA H200"`` (``None`` when no GPU is visible).
    """

    device: str
    tensorrt_version: str | None
    compute_capability: str | None
    gpu_name: str | None = None
    tensorrt_problem: str | None = None
    gpu_problem: str | None = None

    @property
    def tensorrt_label(self) -> str:
        """The version, or why it is unknown (``"not installed"``)."""
        return self.tensorrt_version or self.tensorrt_problem or NOT_INSTALLED

    @property
    def compute_capability_label(self) -> str:
        """The compute capability, or why it is unknown (``"no GPU visible"``)."""
        return self.compute_capability or self.gpu_problem or NO_GPU


def probe_tensorrt() -> tuple[str | None, str | None]:
    """``(version, None)`` when tensorrt imports, else ``(None, why)``."""
    if not is_available("tensorrt"):
        return None, NOT_INSTALLED
    try:
        tensorrt = importlib.import_module("tensorrt")
    except (ImportError, OSError) as exc:  # installed but its libraries do not load
        return None, f"installed but cannot be imported ({type(exc).__name__}: {exc})"
    return str(getattr(tensorrt, "__version__", "unknown")), None


def probe_machine(device: str = "cuda:0") -> MachineFacts:
    """The facts of this machine for ``device``; never raises for a missing piece.

    Raises:
        InputError: ``device`` is not a CUDA device string (``"cuda"``, ``"cuda:N"``).
    """
    from spine_rt.errors import InputError

    index = cuda_index(device)
    if index is None:
        raise InputError(f"TensorRT engines are built and run on CUDA devices; got device {device!r} (use cuda or cuda:N)")
    canonical = f"cuda:{index}"
    tensorrt_version, tensorrt_problem = probe_tensorrt()
    try:
        gpus = visible_gpus()
    except Exception as exc:  # a broken CUDA installation reads as "cannot tell", with the reason
        gpus, gpu_problem = None, f"unknown ({type(exc).__name__}: {exc})"
    else:
        gpu_problem = None
    if gpus is None:
        gpu_problem = gpu_problem or "unknown (neither torch with CUDA nor cuda-python is installed to ask)"
        return MachineFacts(canonical, tensorrt_version, None, None, tensorrt_problem, gpu_problem)
    if not gpus:
        return MachineFacts(canonical, tensorrt_version, None, None, tensorrt_problem, NO_GPU)
    if index >= len(gpus):
        problem = f"{canonical} not visible ({len(gpus)} GPU(s) visible)"
        return MachineFacts(canonical, tensorrt_version, None, None, tensorrt_problem, problem)
    gpu = gpus[index]
    return MachineFacts(canonical, tensorrt_version, gpu.compute_capability, gpu.name, tensorrt_problem, None)


# --- everything, for doctor and reports ----------------------------------------------------------

def describe_environment() -> dict[str, Any]:
    """What this machine offers spine-rt; never raises (a failed question is listed under ``"problems"``).

    Returns:
        A dict of plain JSON types with the keys ``python``, ``platform``, ``spine_rt``, ``numpy``,
        ``onnxruntime``, ``onnxruntime_providers`` (list), ``torch``,
        ``torch_cuda`` (CUDA version torch was built with, or ``None``),
        ``torch_cuda_available`` (bool or ``None`` without torch),
        ``tensorrt``, ``cuda_python``, ``openvino`` (versions or ``None`` when not installed),
        ``cpu`` (:meth:`CpuCapabilities.as_dict`: ``{"model", "avx2", "avx512", "avx512_bf16", "amx",
        "logical_cores", "native_bf16"}``, flags ``None`` where unreadable),
        ``gpus`` (list of :class:`GpuInfo` fields; ``None`` when nothing installed can
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
        "spine_rt": ask("spine_rt", lambda: importlib.import_module("spine_rt").__version__),
        "numpy": ask("numpy", lambda: _module_version("numpy")),
        "onnxruntime": ask("onnxruntime", lambda: _module_version("onnxruntime")),
        "onnxruntime_providers": ask("onnxruntime providers", _onnxruntime_providers, []),
        "torch": ask("torch", lambda: _module_version("torch")),
        "torch_cuda": None,
        "torch_cuda_available": None,
        # The distribution name varies (tensorrt, tensorrt-cu12, ...): ask the module itself.
        "tensorrt": ask("tensorrt", lambda: _module_version("tensorrt")),
        "cuda_python": ask("cuda-python", _cuda_python_version),
        "openvino": ask("openvino", _openvino_version),
        "cpu": ask("CPU capabilities", lambda: cpu_capabilities().as_dict()),
    }
    if info["torch"] is not None:
        import torch

        info["torch_cuda"] = ask("torch CUDA version", lambda: torch.version.cuda)
        info["torch_cuda_available"] = ask("torch CUDA availability", lambda: bool(torch.cuda.is_available()))
    info["gpus"] = ask("GPUs", _gpus)
    info["backends"] = ask("available backends", _backends, [])
    info["auto_backend"] = ask("backend selection", _auto_backend)
    info["problems"] = problems
    return info


def _module_version(module: str) -> str | None:
    """``module.__version__`` when the module is installed, else ``None``."""
    if not is_available(module):
        return None
    return str(getattr(importlib.import_module(module), "__version__", "unknown"))


def _onnxruntime_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


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


def _gpus() -> list[dict[str, Any]] | None:
    gpus = visible_gpus()
    return None if gpus is None else [asdict(gpu) for gpu in gpus]


def _backends() -> list[str]:
    from spine_rt.runtime.backends import available_backends

    return [f"{choice.name} on {choice.device}" for choice in available_backends()]


def _auto_backend() -> dict[str, str]:
    from spine_rt.runtime.backends import select_backend

    choice = select_backend("auto")
    return {"name": choice.name, "device": choice.device, "reason": choice.reason}
