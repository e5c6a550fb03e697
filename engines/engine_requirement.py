"""What an engine must match to run here, and in words what a stored engine does not match.

``EngineRequirement.differences(parts)`` compares a stored engine's key parts
with this machine and this package and returns one phrase per mismatch::

    built for compute capability 8.0, this GPU is 9.0
    built with TensorRT 10.3.0.26, installed 10.16.1.11
    ONNX changed: the engine was built from stage2/fold0.fp16.onnx with sha256 0a1b2c3d4e5f...,
        the package's graph has 9f8e7d6c5b4a...   (one line in the message)

An empty list means the engine can be used.
"""

from __future__ import annotations

from dataclasses import dataclass

from spine_rt.engines.engine_key import EngineKeyParts
from spine_rt.engines.shape_profile import ShapeRange, describe_profile

#: hex digits of a sha256 shown in messages.
SHORT_SHA = 12


def version_tuple(version: str) -> tuple[int, ...]:
    """``"10.16.1.11" -> (10, 16, 1, 11)``; non-numeric parts (``"0rc1"``) count by their leading digits."""
    parts = []
    for piece in version.split("."):
        digits = ""
        for character in piece:
            if not character.isdigit():
                break
            digits += character
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


@dataclass(frozen=True)
class EngineRequirement:
    """The conditions a stored engine must meet.

    Attributes:
        onnx_sha256: sha256 of the graph the package holds now.
        precision: ``"fp16"`` or ``"fp32"``.
        tensorrt_version: installed TensorRT (``None``: not installed).
        compute_capability: of the target GPU (``None``: no GPU visible).
        graph: the graph's path in the package, for messages.
        batch: a batch size the engine's profile must cover (``None``: any).
        profile: the exact profile required (``None``: any).
        version_compatible: required value of the flag (``None``: either).
    """

    onnx_sha256: str
    precision: str
    tensorrt_version: str | None
    compute_capability: str | None
    graph: str = "the ONNX graph"
    batch: int | None = None
    profile: tuple[ShapeRange, ...] | None = None
    version_compatible: bool | None = None

    @classmethod
    def exactly(cls, parts: EngineKeyParts, graph: str = "the ONNX graph") -> "EngineRequirement":
        """The requirement met only by an engine with exactly ``parts`` (what a build would produce)."""
        return cls(
            onnx_sha256=parts.onnx_sha256,
            precision=parts.precision,
            tensorrt_version=parts.tensorrt_version,
            compute_capability=parts.compute_capability,
            graph=graph,
            profile=parts.profile,
            version_compatible=parts.version_compatible,
        )

    def differences(self, built: EngineKeyParts) -> list[str]:
        """One phrase per part of ``built`` that does not meet this requirement; empty when usable."""
        problems: list[str] = []
        if built.onnx_sha256 != self.onnx_sha256:
            problems.append(
                f"ONNX changed: the engine was built from {self.graph} with sha256 {built.onnx_sha256[:SHORT_SHA]}..., "
                f"the package's graph has {self.onnx_sha256[:SHORT_SHA]}..."
            )
        if built.precision != self.precision:
            problems.append(f"built from the {built.precision} graph, {self.precision} requested")
        tensorrt = self._tensorrt_difference(built)
        if tensorrt:
            problems.append(tensorrt)
        if built.compute_capability is not None and built.compute_capability != self.compute_capability:
            if self.compute_capability is None:
                problems.append(f"no GPU visible (the engine was built for compute capability {built.compute_capability})")
            else:
                problems.append(
                    f"built for compute capability {built.compute_capability}, this GPU is {self.compute_capability}"
                )
        if self.profile is not None and tuple(built.profile) != tuple(self.profile):
            problems.append(
                f"built for profile {describe_profile(built.profile)}; requested {describe_profile(self.profile)}"
            )
        batch = self._batch_difference(built)
        if batch:
            problems.append(batch)
        if self.version_compatible is not None and built.version_compatible != self.version_compatible:
            built_as = "with" if built.version_compatible else "without"
            wanted = "a version-compatible" if self.version_compatible else "a plain"
            problems.append(f"built {built_as} --version-compatible, {wanted} engine requested")
        return problems

    # ----------------------------------------------------------------- helpers
    def _tensorrt_difference(self, built: EngineKeyParts) -> str | None:
        made_with = built.tensorrt_version
        if made_with is None:
            return "the engine records no TensorRT version"
        installed = self.tensorrt_version
        if installed is None:
            return f"TensorRT is not installed (the engine was built with TensorRT {made_with})"
        if built.version_compatible:
            same_major = version_tuple(made_with)[:1] == version_tuple(installed)[:1]
            if same_major and version_tuple(installed) >= version_tuple(made_with):
                return None
            major = made_with.split(".")[0]
            return (
                f"built with TensorRT {made_with} (version-compatible: runs on TensorRT {major}.x from "
                f"{made_with} on), installed {installed}"
            )
        if made_with != installed:
            return f"built with TensorRT {made_with}, installed {installed}"
        return None

    def _batch_difference(self, built: EngineKeyParts) -> str | None:
        if self.batch is None or not built.profile:
            return None
        for shape_range in built.profile:
            low, high = shape_range.min[0], shape_range.max[0]
            if not low <= self.batch <= high:
                return (
                    f"built for batch {low}..{high} (input {shape_range.name!r}), batch {self.batch} requested "
                    f"(rebuild with --max-batch {max(self.batch, high)})"
                )
        return None
