"""The key of a TensorRT engine: everything that decides whether a plan file can run here.

An engine (``.plan``) is valid only for the exact graph, TensorRT version,
GPU architecture, input shapes and precision it was built with. The key is a
short hash of those parts::

    onnx_sha256          sha256 of the ONNX graph the engine was built from
    tensorrt_version     e.g. "10.16.1.11" (for version-compatible engines only the
                         major version enters the hash: they run on later 10.x)
    compute_capability   of the GPU it was built on, e.g. "9.0"
    profile              min/opt/max shape of every input
    precision            "fp16" or "fp32" (which graph of the package)
    version_compatible   built with TensorRT's VERSION_COMPATIBLE flag

Engines live in ``PKG/engines/<key>/`` and ``engine.json`` repeats every
part in clear, so a mismatch can be explained ("built for compute capability
8.0, this GPU is 9.0"). File dates play no part.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from spine_rt.engines.shape_profile import ShapeRange
from spine_rt.errors import EnvironmentProblem

#: hex characters of the sha256 used as the key (64 bits: collisions are not a concern for one package).
KEY_LENGTH = 16


def tensorrt_key_version(version: str, version_compatible: bool) -> str:
    """The TensorRT version as it enters the key: the full version, or ``"<major>.x"`` for version-compatible engines."""
    if version_compatible:
        return f"{version.split('.')[0]}.x"
    return version


@dataclass(frozen=True)
class EngineKeyParts:
    """The parts an engine key is made of (see the module docstring).

    ``tensorrt_version`` and ``compute_capability`` are ``None`` when this
    machine cannot tell (TensorRT not installed, no GPU visible); such parts
    describe a plan, not a buildable engine, and :meth:`key` refuses them.
    """

    onnx_sha256: str
    tensorrt_version: str | None
    compute_capability: str | None
    profile: tuple[ShapeRange, ...]
    precision: str
    version_compatible: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", tuple(self.profile))
        object.__setattr__(self, "version_compatible", bool(self.version_compatible))

    @property
    def unknown_parts(self) -> tuple[str, ...]:
        """Names of the parts this machine could not determine (empty when the key can be computed)."""
        unknown = []
        if self.tensorrt_version is None:
            unknown.append("tensorrt_version")
        if self.compute_capability is None:
            unknown.append("compute_capability")
        return tuple(unknown)

    def hashed_fields(self) -> dict[str, Any]:
        """The canonical, JSON-serialisable content the key hashes.

        Raises:
            EnvironmentProblem: a part is unknown on this machine.
        """
        if self.unknown_parts:
            raise EnvironmentProblem(
                f"cannot compute the engine key: {', '.join(self.unknown_parts)} unknown on this machine"
            )
        assert self.tensorrt_version is not None  # for type checkers: unknown_parts is empty
        return {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt": tensorrt_key_version(self.tensorrt_version, self.version_compatible),
            "compute_capability": self.compute_capability,
            "profile": [r.to_dict() for r in self.profile],
            "precision": self.precision,
            "version_compatible": self.version_compatible,
        }

    def key(self) -> str:
        """The engine key: the first :data:`KEY_LENGTH` hex digits of the sha256 of :meth:`hashed_fields`.

        Raises:
            EnvironmentProblem: a part is unknown on this machine.
        """
        canonical = json.dumps(self.hashed_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]

    def key_or_none(self) -> str | None:
        """:meth:`key`, or ``None`` when a part is unknown."""
        return None if self.unknown_parts else self.key()

    def to_dict(self) -> dict[str, Any]:
        """Every part in clear (unknown parts as ``None``), for ``engine.json``."""
        return {
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "compute_capability": self.compute_capability,
            "profile": [r.to_dict() for r in self.profile],
            "precision": self.precision,
            "version_compatible": self.version_compatible,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineKeyParts":
        """Inverse of :meth:`to_dict` (KeyError/TypeError/ValueError on malformed data)."""
        return cls(
            onnx_sha256=str(data["onnx_sha256"]),
            tensorrt_version=None if data["tensorrt_version"] is None else str(data["tensorrt_version"]),
            compute_capability=None if data["compute_capability"] is None else str(data["compute_capability"]),
            profile=tuple(ShapeRange.from_dict(r) for r in data["profile"]),
            precision=str(data["precision"]),
            version_compatible=bool(data.get("version_compatible", False)),
        )
