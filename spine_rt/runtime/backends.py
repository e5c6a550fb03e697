"""Which inference backend runs a model, and why.

``select_backend("auto", device)`` picks, in this order::

    TensorRT  >  onnxruntime CUDA  >  torch CUDA  >  OpenVINO CPU  >  onnxruntime CPU

(OpenVINO runs the paper-size networks several times faster than
onnxruntime on the same CPU and graph, exactly: ``benchmarks/RESULTS.md``;
:data:`OPENVINO_FIRST_REASON`)
and the returned :class:`BackendChoice` records why every better option was
skipped, e.g. ``"tensorrt not installed; onnxruntime CUDA provider absent;
torch sees no CUDA device → onnxruntime CPU"``. An explicit backend that
cannot run is an :class:`EnvironmentProblem` carrying the install hint; it is
never replaced by another one.

``device`` is ``None`` (any: the best backend on any device), ``"cpu"``
(CPU only), ``"cuda"`` or ``"cuda:N"`` (that GPU only; no CPU fallback).

What the machine offers is read once into :class:`BackendFacts` by
:func:`probe_backends`; both public functions take ``facts=`` so that the CLI
probes once and tests can state a machine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from spine_rt.dependencies import cuda_python_installed, install_hint, is_available
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.runtime.devices import cuda_index, normalize_device
from spine_rt.runtime.machine import visible_gpus

#: the backends that run a network in this process.
IN_PROCESS_BACKENDS: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch", "openvino")
#: every name ``select_backend`` accepts.
BACKEND_NAMES: tuple[str, ...] = ("auto", *IN_PROCESS_BACKENDS)
#: every name ``load_pipeline`` (and ``--backend``) accepts: ``triton`` runs the networks on Triton servers.
PIPELINE_BACKENDS: tuple[str, ...] = (*BACKEND_NAMES, "triton")
#: every precision a pipeline computes in (``bf16``: from the FP32 graph, on :data:`BF16_BACKENDS` only).
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
#: the precisions a package stores graphs in, and torch computes in.
GRAPH_PRECISIONS: tuple[str, ...] = PRECISIONS[:2]
#: backends that compute in bf16 (from the FP32 graph).
BF16_BACKENDS: tuple[str, ...] = ("openvino",)
#: backends that ``auto`` passes over when building their runners fails (an
#: :class:`EnvironmentProblem`, e.g. no TensorRT engine for this GPU in the package).
FALLBACK_ON_BUILD_FAILURE: tuple[str, ...] = ("tensorrt",)

Built = TypeVar("Built")

#: why ``auto`` prefers OpenVINO on the CPU (figures: benchmarks/RESULTS.md, "Paper-size stage two on a quiet
#: machine, after the denormal fix", 2026-12-07)
OPENVINO_FIRST_REASON = ("openvino is the fastest CPU engine measured (paper-size stage two: 1.25x onnxruntime's "
                         "speed, same FP32 graph, same labels)")

#: how to get onnxruntime's CUDA provider (the CPU and GPU wheels cannot live side by side).
ONNXRUNTIME_GPU_HINT = "pip install onnxruntime-gpu (after: pip uninstall onnxruntime)"

#: how to get a torch that sees the GPU.
TORCH_CUDA_HINT = "install a CUDA build of torch (see https://pytorch.org/get-started/locally/) and check that nvidia-smi lists the GPU"

CUDA_PROVIDER = "CUDAExecutionProvider"


@dataclass(frozen=True)
class BackendFacts:
    """What this machine offers to the backends.

    Attributes:
        tensorrt_installed: the ``tensorrt`` module can be imported.
        onnxruntime_providers: ``onnxruntime.get_available_providers()``.
        torch_installed: the ``torch`` module can be imported.
        torch_cuda_device_count: GPUs torch can use (0 without torch or with a CPU build).
        cuda_device_count: GPUs visible through torch or cuda-python; ``None``
            when neither is installed and nothing can tell.
        cuda_python_installed: cuda-python's runtime bindings can be imported
            (``TensorRTRunner`` needs them for its buffers and streams).
        openvino_installed: the ``openvino`` module can be imported (CPU only).
    """

    tensorrt_installed: bool
    onnxruntime_providers: tuple[str, ...]
    torch_installed: bool
    torch_cuda_device_count: int
    cuda_device_count: int | None
    cuda_python_installed: bool = False
    openvino_installed: bool = False


@dataclass(frozen=True)
class BackendChoice:
    """The backend that will run, where, and why it was chosen.

    Attributes:
        name: ``"tensorrt"``, ``"onnxruntime"`` or ``"torch"``.
        device: ``"cpu"`` or ``"cuda:N"``.
        reason: one line for reports, e.g. ``"tensorrt not installed; ... → onnxruntime CPU"``.
    """

    name: str
    device: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} on {self.device} ({self.reason})"


def probe_backends() -> BackendFacts:
    """Look at the machine: installed modules, onnxruntime providers, visible GPUs.

    Imports onnxruntime, and torch when it is installed (to ask about CUDA);
    never imports tensorrt. A broken GPU stack reads as "no GPU".
    """
    import onnxruntime

    torch_installed = is_available("torch")
    torch_cuda_devices = 0
    if torch_installed:
        import torch

        if torch.cuda.is_available():
            torch_cuda_devices = torch.cuda.device_count()
    try:
        gpus = visible_gpus()
    except Exception:  # a broken CUDA installation: treat as no GPU, the doctor reports details
        gpus = ()
    return BackendFacts(
        tensorrt_installed=is_available("tensorrt"),
        onnxruntime_providers=tuple(onnxruntime.get_available_providers()),
        torch_installed=torch_installed,
        torch_cuda_device_count=torch_cuda_devices,
        cuda_device_count=None if gpus is None else len(gpus),
        cuda_python_installed=cuda_python_installed(),
        openvino_installed=is_available("openvino"),
    )


def select_backend(name: str = "auto", device: str | None = None, *, facts: BackendFacts | None = None) -> BackendChoice:
    """Choose the backend ``name`` (or the best one for ``"auto"``) on ``device``.

    Args:
        name: one of :data:`BACKEND_NAMES`.
        device: ``None`` (any device), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        facts: what the machine offers; probed with :func:`probe_backends` when ``None``.

    Returns:
        The choice with a concrete device (``"cpu"`` or ``"cuda:N"``) and the reason.

    Raises:
        InputError: unknown backend name or device string, or ``tensorrt`` on the CPU.
        EnvironmentProblem: the requested backend (or, for ``"auto"`` with a
            CUDA device, every GPU backend) cannot run here; the message has the install hint.
    """
    if name not in BACKEND_NAMES:
        raise InputError(f"unknown backend {name!r}; valid backends: {', '.join(BACKEND_NAMES)}")
    wanted = None if device is None else normalize_device(device)
    if name == "tensorrt" and wanted == "cpu":
        raise InputError("backend 'tensorrt' runs only on CUDA devices; use device='cuda' or backend 'onnxruntime'")
    if name == "openvino" and wanted not in (None, "cpu"):
        raise InputError("backend 'openvino' runs on the CPU; use device='cpu' or a CUDA backend")
    facts = probe_backends() if facts is None else facts
    if name == "auto":
        return _select_auto(wanted, facts)
    return _select_explicit(name, wanted, facts)


def available_backends(device: str | None = None, *, facts: BackendFacts | None = None) -> tuple[BackendChoice, ...]:
    """Every backend that can run on ``device`` (``None`` = any), best first.

    The order is TensorRT, onnxruntime CUDA, torch CUDA, OpenVINO CPU,
    onnxruntime CPU, torch CPU; ``spine-rt verify`` runs the parity check on each of them.

    Raises:
        InputError: invalid device string.
    """
    wanted = None if device is None else normalize_device(device)
    facts = probe_backends() if facts is None else facts
    gpu = wanted if wanted not in (None, "cpu") else "cuda:0"
    candidates = []
    if wanted != "cpu":
        candidates += [("tensorrt", gpu), ("onnxruntime", gpu), ("torch", gpu)]
    if wanted in (None, "cpu"):
        candidates += [("openvino", "cpu"), ("onnxruntime", "cpu"), ("torch", "cpu")]
    return tuple(
        BackendChoice(backend, where, "available")
        for backend, where in candidates
        if _unavailable(backend, where, facts) is None
    )


def build_on_backend(
    name: str,
    device: str | None,
    build: Callable[[BackendChoice], Built],
    *,
    unusable: Callable[[BackendChoice], str | None] | None = None,
    facts: BackendFacts | None = None,
) -> tuple[Built, BackendChoice]:
    """Choose backend ``name`` on ``device`` and ``build`` with it; ``auto`` falls back, saying why.

    This is the one place where ``auto`` moves on from its choice: when
    ``unusable(choice)`` gives a reason (e.g. a package without torch weights
    for ``torch``), or when building a backend of :data:`FALLBACK_ON_BUILD_FAILURE`
    raises an :class:`EnvironmentProblem` (TensorRT without an engine for this
    GPU), the next backend of :func:`available_backends` is built instead and
    the returned choice's reason says ``"...; tensorrt: <why> → onnxruntime on cuda:0"``.
    An explicit backend is built as chosen (its failures propagate).

    Args:
        name / device: as for :func:`select_backend`.
        build: makes the runners (or anything) for a choice.
        unusable: why a choice cannot serve (auto only), or ``None`` when it can.
        facts: what the machine offers (probed when ``None``).

    Returns:
        ``(what build returned, the choice that built it with the full reason)``.

    Raises:
        InputError / EnvironmentProblem: as :func:`select_backend`, or as ``build``
            for the last backend tried.
    """
    choice = select_backend(name, device, facts=facts)
    if name != "auto":
        return build(choice), choice
    passed_over: set[str] = set()
    reason = choice.reason
    while True:
        why = unusable(choice) if unusable is not None else None
        failure: EnvironmentProblem | None = None
        if why is None:
            try:
                return build(choice), dataclasses.replace(choice, reason=reason)
            except EnvironmentProblem as problem:
                if choice.name not in FALLBACK_ON_BUILD_FAILURE:
                    raise
                failure, why = problem, str(problem).splitlines()[0]
        passed_over.add(choice.name)
        following = next((c for c in available_backends(device, facts=facts) if c.name not in passed_over), None)
        if following is None:
            if failure is not None:
                raise failure
            return build(choice), dataclasses.replace(choice, reason=reason)  # nothing else: let it say why
        reason = f"{reason}; {choice.name}: {why} → {following.name} on {following.device}"
        choice = following


# --------------------------------------------------------------------------- internals
def _label(name: str, device: str) -> str:
    if name == "tensorrt":
        return "tensorrt"
    if name == "openvino":
        return "openvino CPU"
    return f"{name} {'CPU' if device == 'cpu' else 'CUDA'}"


def _unavailable(name: str, device: str, facts: BackendFacts) -> tuple[str, str] | None:
    """``(why, install hint)`` when ``name`` cannot run on ``device``, else ``None``."""
    index = cuda_index(device)
    if name == "tensorrt":
        if not facts.tensorrt_installed:
            return "tensorrt not installed", f"install it with: {install_hint('tensorrt')}"
        if not facts.cuda_python_installed or facts.cuda_device_count is None:
            return "tensorrt needs cuda-python, which is not installed", f"install it with: {install_hint('cuda')}"
        return _missing_gpu(index, facts.cuda_device_count, "no CUDA GPU visible")
    if name == "openvino":
        if not facts.openvino_installed:
            return "openvino not installed", f"install it with: {install_hint('openvino')}"
        if index is not None:
            return "openvino runs on the CPU only", "use device='cpu'"
        return None
    if name == "onnxruntime":
        if index is None:
            return None
        if CUDA_PROVIDER not in facts.onnxruntime_providers:
            return "onnxruntime CUDA provider absent", f"install it with: {ONNXRUNTIME_GPU_HINT}"
        if facts.cuda_device_count is None:
            return None  # nothing can count the GPUs; the runner checks the session's providers
        return _missing_gpu(index, facts.cuda_device_count, "no CUDA GPU visible")
    if name == "torch":
        if not facts.torch_installed:
            return "torch not installed", f"install it with: {install_hint('torch')}"
        if index is None:
            return None
        return _missing_gpu(index, facts.torch_cuda_device_count, "torch sees no CUDA device")
    raise AssertionError(f"unhandled backend {name!r}")


def _missing_gpu(index: int | None, count: int, none_visible: str) -> tuple[str, str] | None:
    if count == 0:
        return none_visible, TORCH_CUDA_HINT if none_visible.startswith("torch") else "check that nvidia-smi lists the GPU"
    if index is not None and index >= count:
        return f"cuda:{index} requested but only {count} CUDA device(s) visible", "use a device index below the GPU count"
    return None


def _select_auto(device: str | None, facts: BackendFacts) -> BackendChoice:
    if device == "cpu":
        return _select_cpu(facts, "device cpu requested")
    gpu = device or "cuda:0"
    candidates = [("tensorrt", gpu), ("onnxruntime", gpu), ("torch", gpu)]
    if device is None:
        candidates.append(("openvino" if facts.openvino_installed else "onnxruntime", "cpu"))
    skipped: list[str] = []
    for backend, where in candidates:
        problem = _unavailable(backend, where, facts)
        if problem is None:
            label = _label(backend, where)
            if skipped:
                reason = f"{'; '.join(skipped)} → {label}"
                if backend == "openvino":
                    reason = f"{'; '.join(skipped)}; {OPENVINO_FIRST_REASON} → {label}"
            else:
                reason = f"{label} is the first choice (tensorrt > onnxruntime CUDA > torch CUDA > onnxruntime CPU)"
            return BackendChoice(backend, where, reason)
        skipped.append(problem[0])
    raise EnvironmentProblem(
        f"no backend can run on {device}: {'; '.join(skipped)}; install one of: "
        f"tensorrt ({install_hint('tensorrt')}), onnxruntime CUDA ({ONNXRUNTIME_GPU_HINT}), "
        f"torch CUDA ({TORCH_CUDA_HINT})"
    )


def _select_cpu(facts: BackendFacts, why: str) -> BackendChoice:
    """The fastest CPU engine installed: OpenVINO, else onnxruntime (saying that openvino is missing)."""
    if facts.openvino_installed:
        return BackendChoice("openvino", "cpu", f"{why}; {OPENVINO_FIRST_REASON} → openvino CPU")
    return BackendChoice("onnxruntime", "cpu", f"{why}; openvino not installed → onnxruntime CPU")


def _select_explicit(name: str, device: str | None, facts: BackendFacts) -> BackendChoice:
    if device is not None:
        problem = _unavailable(name, device, facts)
        if problem is not None:
            why, hint = problem
            raise EnvironmentProblem(f"backend {_label(name, device)} is not available on {device}: {why}; {hint}")
        return BackendChoice(name, device, f"{_label(name, device)} requested on {device}")
    if name == "tensorrt":
        return _select_explicit(name, "cuda:0", facts)
    if name == "openvino":
        return _select_explicit(name, "cpu", facts)
    gpu_problem = _unavailable(name, "cuda:0", facts)
    if gpu_problem is None:
        return BackendChoice(name, "cuda:0", f"{name} requested, a CUDA device is usable → {_label(name, 'cuda:0')}")
    cpu_problem = _unavailable(name, "cpu", facts)
    if cpu_problem is not None:
        why, hint = cpu_problem
        raise EnvironmentProblem(f"backend {name} is not available: {why}; {hint}")
    return BackendChoice(name, "cpu", f"{gpu_problem[0]} → {_label(name, 'cpu')}")
