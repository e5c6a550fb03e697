"""What this machine contributes to an engine key: the TensorRT version and the GPU's compute capability.

Either can be unknown (TensorRT not installed, no GPU visible); the facts
then say why, in words that ``build-engine --dry-run`` prints in place of the
value. Probing imports tensorrt (to read its version) and asks
:func:`spine_rt.runtime.visible_gpus` (torch or cuda-python) about the GPU.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from spine_rt.dependencies import is_available
from spine_rt.runtime.devices import cuda_index

NOT_INSTALLED = "not installed"
NO_GPU = "no GPU visible"


@dataclass(frozen=True)
class MachineFacts:
    """The build/run machine as far as engines are concerned.

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
    from spine_rt.runtime.gpus import visible_gpus

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
