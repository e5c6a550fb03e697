"""An engine's identity: its key, what it must match to run here, and its ``engine.json`` record.

The key of a TensorRT engine: everything that decides whether a plan file can run here.

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

What an engine must match to run here, and in words what a stored engine does not match.

``EngineRequirement.differences(parts)`` compares a stored engine's key parts
with this machine and this package and returns one phrase per mismatch::

    built for compute capability 8.0, this GPU is 9.0
    built with TensorRT 10.3.0.26, installed 10.16.1.11
    ONNX changed: the engine was built from stage2/fold0.fp16.onnx with sha256 0a1b2c3d4e5f...,
        the package's graph has 9f8e7d6c5b4a...   (one line in the message)

An empty list means the engine can be used.

``engine.json``: what one stored engine is, written beside its ``<stage>.plan``.

::

    {
      "format_version": 1,
      "key": "3f2a9c0d1e4b5a67",
      "stage": "stage2", "fold": 0,
      "graph": "stage2/fold0.fp16.onnx",
      "plan": "stage2.plan", "plan_sha256": "...", "plan_bytes": 41234567,
      "key_parts": {"onnx_sha256": "...", "tensorrt_version": "10.16.1.11",
                    "compute_capability": "9.0", "profile": [{"name": "image", "min": [...], ...}],
                    "precision": "fp16", "version_compatible": false},
      "build": {"workspace_mb": null, "opt_level": null, "timing_cache": "...",
                "gpu_name": "NVIDIA H200", "spine_rt": "0.1.0", "built_at": "2025-01-01T12:00:00+00:00"}
    }

``key_parts`` decide the key; ``build`` is information only (settings that
change speed, not validity).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from spine_rt.engines.options import ShapeRange, describe_profile
from spine_rt.errors import EnvironmentProblem, InputError


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


RECORD_FORMAT_VERSION = 1
RECORD_NAME = "engine.json"


@dataclass(frozen=True)
class EngineRecord:
    """The content of one ``engine.json``.

    Attributes:
        key: the engine key (the folder's name); equals ``key_parts.key()``.
        stage / fold: which network of the package.
        graph: the ONNX graph's path in the package.
        plan: the plan file's name in the engine folder (``<stage>.plan``).
        plan_sha256 / plan_bytes: of the plan file, checked on load.
        key_parts: every key part in clear.
        build: build settings and facts that do not enter the key.
    """

    key: str
    stage: str
    fold: int
    graph: str
    plan: str
    plan_sha256: str
    plan_bytes: int
    key_parts: EngineKeyParts
    build: dict[str, Any] = field(default_factory=dict)
    format_version: int = RECORD_FORMAT_VERSION

    def to_json(self) -> str:
        """The ``engine.json`` text."""
        data = {
            "format_version": self.format_version,
            "key": self.key,
            "stage": self.stage,
            "fold": self.fold,
            "graph": self.graph,
            "plan": self.plan,
            "plan_sha256": self.plan_sha256,
            "plan_bytes": self.plan_bytes,
            "key_parts": self.key_parts.to_dict(),
            "build": self.build,
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = RECORD_NAME) -> "EngineRecord":
        """Parse ``engine.json``.

        Raises:
            InputError: not JSON, an unsupported format version, or a missing or
                malformed field (one line naming ``source``).
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{source}: engine.json must hold a JSON object")
        version = data.get("format_version")
        if version != RECORD_FORMAT_VERSION:
            raise InputError(
                f"{source}: format_version {version!r} is not supported (this spine-rt reads {RECORD_FORMAT_VERSION})"
            )
        try:
            return cls(
                key=str(data["key"]),
                stage=str(data["stage"]),
                fold=int(data["fold"]),
                graph=str(data["graph"]),
                plan=str(data["plan"]),
                plan_sha256=str(data["plan_sha256"]),
                plan_bytes=int(data["plan_bytes"]),
                key_parts=EngineKeyParts.from_dict(data["key_parts"]),
                build=dict(data.get("build", {})),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise InputError(f"{source}: {exc}") from None
            raise InputError(f"{source}: malformed engine record ({type(exc).__name__}: {exc})") from None
