"""``engine.json``: what one stored engine is, written beside its ``<stage>.plan``.

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

import json
from dataclasses import dataclass, field
from typing import Any

from spine_rt.engines.engine_key import EngineKeyParts
from spine_rt.errors import InputError

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
