"""Key parts and machine facts used across the engine tests (plain data records)."""

from __future__ import annotations

from spine_rt.engines import EngineKeyParts, MachineFacts, ShapeRange

#: a machine described by its facts (a data record, not a stand-in for TensorRT).
H200_WITH_TRT_10_16 = MachineFacts("cuda:0", "10.16.1.11", "9.0", "NVIDIA H200")
MACHINE_WITHOUT_TRT_OR_GPU = MachineFacts("cuda:0", None, None, None, "not installed", "no GPU visible")

STAGE2_PROFILE = (ShapeRange("volume", (1, 1, 8, 8, 4), (4, 1, 8, 8, 4), (4, 1, 8, 8, 4)),)


def key_parts(**changes) -> EngineKeyParts:
    """Key parts of a stage2 engine built on an H200 with TensorRT 10.16; ``changes`` override fields."""
    fields = dict(
        onnx_sha256="ab" * 32,
        tensorrt_version="10.16.1.11",
        compute_capability="9.0",
        profile=STAGE2_PROFILE,
        precision="fp16",
        version_compatible=False,
    )
    fields.update(changes)
    return EngineKeyParts(**fields)
