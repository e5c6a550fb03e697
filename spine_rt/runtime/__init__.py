"""Runners: one API (:class:`Runner`) over onnxruntime, torch, TensorRT and OpenVINO.

::

    from spine_rt.runtime import OnnxRuntimeRunner, select_backend
    choice = select_backend("auto", device=None)   # BackendChoice(name, device, reason)
    with OnnxRuntimeRunner("stage2.onnx", device="cpu") as runner:
        out = runner.infer({"image": patches})      # {output name: np.ndarray}

Importing this package imports neither torch nor onnxruntime; the runner
classes and the probing functions import their backend when used. Names are
loaded on first access (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine_rt.lazy_exports import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "TensorSpec": "spine_rt.runtime.tensor_spec",
    "Runner": "spine_rt.runtime.runner",
    "OnnxRuntimeRunner": "spine_rt.runtime.onnxruntime_runner",
    "TorchRunner": "spine_rt.runtime.torch_runner",
    "TensorRTRunner": "spine_rt.runtime.tensorrt_runner",
    "TritonRunner": "spine_rt.runtime.triton_runner",
    "TritonServerPool": "spine_rt.runtime.triton_servers",
    "OpenVINORunner": "spine_rt.runtime.openvino_runner",
    "BACKEND_NAMES": "spine_rt.runtime.backends",
    "BackendChoice": "spine_rt.runtime.backends",
    "BackendFacts": "spine_rt.runtime.backends",
    "available_backends": "spine_rt.runtime.backends",
    "probe_backends": "spine_rt.runtime.backends",
    "select_backend": "spine_rt.runtime.backends",
    "CpuCapabilities": "spine_rt.runtime.machine",
    "GpuInfo": "spine_rt.runtime.machine",
    "MachineFacts": "spine_rt.runtime.machine",
    "cpu_capabilities": "spine_rt.runtime.machine",
    "describe_environment": "spine_rt.runtime.machine",
    "machine_snapshot": "spine_rt.runtime.machine",
    "probe_machine": "spine_rt.runtime.machine",
    "usable_cores": "spine_rt.runtime.machine",
    "visible_gpus": "spine_rt.runtime.machine",
    "normalize_device": "spine_rt.runtime.devices",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from spine_rt.runtime.backends import (
        BACKEND_NAMES,
        BackendChoice,
        BackendFacts,
        available_backends,
        probe_backends,
        select_backend,
    )
    from spine_rt.runtime.devices import normalize_device
    from spine_rt.runtime.machine import (
        CpuCapabilities,
        GpuInfo,
        MachineFacts,
        cpu_capabilities,
        describe_environment,
        machine_snapshot,
        probe_machine,
        usable_cores,
        visible_gpus,
    )
    from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from spine_rt.runtime.openvino_runner import OpenVINORunner
    from spine_rt.runtime.runner import Runner
    from spine_rt.runtime.tensor_spec import TensorSpec
    from spine_rt.runtime.torch_runner import TorchRunner
    from spine_rt.runtime.triton_runner import TritonRunner
    from spine_rt.runtime.triton_servers import TritonServerPool


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
