"""spine_rt.export: PyTorch model -> verified ONNX model package (installed from export/).

::

    from spine_rt.export import export_package, verify_package
    package = export_package("sshsnet", out="pkg", checkpoints={"stage1": "S1.pt", "stage2": "S2.pt"})
    report = verify_package("pkg")          # every available backend vs torch FP32
    package = package_onnx("mbnet", out="pkg2", graphs="mbnet.onnx")   # ONNX graphs trained elsewhere

Importing this package imports neither torch nor onnx (names load on first
access, PEP 562); exporting needs the ``[export]`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine_rt.lazy_exports import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "export_package": "spine_rt.export.package_export",
    "package_onnx": "spine_rt.export.onnx_package",
    "verify_package": "spine_rt.export.package_verification",
    "VerifyReport": "spine_rt.export.package_verification",
    "EXPORTABLE_MODELS": "spine_rt.export.model_families",
    "TOLERANCES": "spine_rt.export.parity",
    "ParityError": "spine_rt.export.parity",
    "convert_to_fp16": "spine_rt.export.fp16_graph",
    "build_stage_module": "spine_rt.pipelines.runner_factory",
    "stage_torch_runner": "spine_rt.pipelines.runner_factory",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from spine_rt.export.package_export import export_package
    from spine_rt.export.onnx_package import package_onnx
    from spine_rt.export.fp16_graph import convert_to_fp16
    from spine_rt.export.model_families import EXPORTABLE_MODELS
    from spine_rt.export.parity import TOLERANCES, ParityError
    from spine_rt.pipelines.runner_factory import build_stage_module, stage_torch_runner
    from spine_rt.export.package_verification import VerifyReport, verify_package


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
