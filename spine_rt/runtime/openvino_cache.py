"""Where OpenVINO keeps the networks it compiled, keyed like the TensorRT engine store.

OpenVINO's model cache (its ``CACHE_DIR`` property) saves a compiled
network so that the next process loads it instead of compiling again. Each
graph gets its own folder, named by a short hash of everything that decides
whether a compiled network can run here, as for engines
(:mod:`spine_rt.engines.key`)::

    graph_sha256         sha256 of the ONNX graph
    openvino_version     e.g. "2026.4.1-22982-..."
    cpu                  CPU model and flags (AVX-512, AVX512_BF16, AMX)
    precision            "fp32" or "bf16" (OpenVINO's inference precision)

``<root>/openvino/<key>/cache.json`` repeats the parts in clear, and the
BF16 gate's verdict (:mod:`spine_rt.pipelines.bf16_gate`) is stored beside
it. ``root`` is ``$SPINE_RT_CACHE_DIR``, else ``$XDG_CACHE_HOME/spine-rt``,
else ``~/.cache/spine-rt``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spine_rt.runtime.machine import CpuCapabilities

#: hex characters of the key (as for engine keys)
KEY_LENGTH = 16
#: the file in each cache folder that names the parts of its key
RECORD_NAME = "cache.json"


def default_cache_root() -> Path:
    """``$SPINE_RT_CACHE_DIR``, ``$XDG_CACHE_HOME/spine-rt`` or ``~/.cache/spine-rt``."""
    explicit = os.environ.get("SPINE_RT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "spine-rt"


@dataclass(frozen=True)
class OpenVinoCacheKey:
    """The parts of a compiled network's cache key (see the module docstring)."""

    graph_sha256: str
    openvino_version: str
    cpu: str
    precision: str

    def key(self) -> str:
        """Short hex hash of the parts (:data:`KEY_LENGTH` characters)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]

    def folder(self, root: str | os.PathLike[str] | None = None) -> Path:
        """``<root>/openvino/<key>`` (root: :func:`default_cache_root`)."""
        return Path(default_cache_root() if root is None else root) / "openvino" / self.key()


def cache_key(graph_sha256: str, openvino_version: str, cpu: CpuCapabilities, precision: str) -> OpenVinoCacheKey:
    """The key of ``graph_sha256`` compiled by this OpenVINO on ``cpu`` at ``precision``."""
    return OpenVinoCacheKey(graph_sha256, openvino_version, cpu.key_text(), precision)


def prepare_folder(key: OpenVinoCacheKey, root: str | os.PathLike[str] | None = None) -> tuple[Path | None, str | None]:
    """Create the key's folder and its ``cache.json``: ``(folder, None)``, or ``(None, why)`` when not writable.

    A cache that cannot be written only costs compile time, so it is reported, not raised.
    """
    folder = key.folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        record = folder / RECORD_NAME
        if not record.is_file():
            from spine_rt.atomic_write import write_bytes_atomic

            write_bytes_atomic(record, (json.dumps({**asdict(key), "key": key.key()}, indent=2) + "\n").encode())
    except OSError as exc:
        return None, f"model cache {folder} not writable ({exc.strerror or exc})"
    return folder, None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or ``None`` when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
