"""Which CUDA GPUs this process can see: through torch when it has CUDA, else cuda-python.

Neither is imported at ``import spine_rt``; :func:`visible_gpus` imports the
one it uses. Without torch and without cuda-python there is no way to ask,
and the answer is ``None`` (unknown), not an empty tuple.
"""

from __future__ import annotations

from dataclasses import dataclass

from spine_rt.dependencies import cuda_python_installed, is_available


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
            callers that must not fail (``describe_environment``) catch it.
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
    return GpuInfo(
        index=index,
        name=str(props.name),
        compute_capability=f"{props.major}.{props.minor}",
        total_memory_gib=round(props.total_memory / 2**30, 1),
        source="torch",
    )


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
        gpus.append(
            GpuInfo(
                index=index,
                name=str(name),
                compute_capability=f"{props.major}.{props.minor}",
                total_memory_gib=round(props.totalGlobalMem / 2**30, 1),
                source="cuda-python",
            )
        )
    return tuple(gpus)
