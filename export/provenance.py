"""Where a package came from: tool versions, date, the checkpoints' sha256."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
from typing import Any

from spine_rt import __version__

#: distributions whose versions every manifest records (None when not installed)
RECORDED_DISTRIBUTIONS = ("torch", "onnx", "onnxscript", "onnxruntime", "numpy")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def tool_versions() -> dict[str, str | None]:
    """``{"spine-rt": ..., "python": ..., "torch": ..., ...}``."""
    versions: dict[str, str | None] = {"spine-rt": __version__, "python": platform.python_version()}
    versions.update({name: _version(name) for name in RECORDED_DISTRIBUTIONS})
    return versions


def utc_timestamp() -> str:
    """Now, ISO 8601 in UTC to the second (``2025-01-31T12:00:00Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def provenance(opset: int, random_init_seed: int | None, checkpoints: dict[str, list[dict[str, Any]]],
               parity: list[dict[str, Any]], source_formats: dict[str, str] | None = None) -> dict[str, Any]:
    """The manifest's ``provenance`` entry.

    Args:
        opset: ONNX opset of the graphs.
        random_init_seed: the seed of ``--random-init`` (``None`` for trained weights).
        checkpoints: stage -> ``[{"fold", "file", "sha256", "format"}]`` (empty lists for random init).
        parity: the export's parity records (one per stage, fold, precision and output).
        source_formats: stage -> the layout its checkpoints came in (``"spine-rt"``,
            ``"sshsnet-authors-stage1"``, ...; see :mod:`spine_rt.models.authors_checkpoints`).
    """
    return {
        "created": utc_timestamp(),
        "versions": tool_versions(),
        "opset": opset,
        "weights": "random-init" if random_init_seed is not None else "checkpoints",
        "random_init_seed": random_init_seed,
        "checkpoints": checkpoints,
        "source_formats": dict(source_formats or {}),
        "parity_definition": "candidate = onnxruntime CPU on the graph, reference = torch FP32 on the same "
                             "weights and input; relative_error = max|candidate - reference| / max|reference|; "
                             "argmax_agreement = fraction of voxels with the same argmax over axis 1",
        "parity": parity,
    }
