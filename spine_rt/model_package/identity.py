"""Which model ran: the facts every report and every command's output carry about the package.

The package's identity is the sha256 of its ``manifest.json``, which lists
the sha256 of every graph and weight file, so two packages with the same
identity hold the same networks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the one line printed when the bundled phantom-only model segments a user's scan
PHANTOM_ONLY_WARNING = ("the bundled demo model was trained on synthetic phantoms only: its labels are for "
                        "trying the software, not for use (pass --model PKG for a model trained on real scans)")


def is_bundled_demo(root: str | Path) -> bool:
    """True when ``root`` is a bundled demo package (``spine_rt/demo_model``, ``spine_rt/demo_xray_model``)."""
    from spine_rt.pipelines.default_model import bundled_package_paths

    return any(Path(root).resolve() == path.resolve() for path in bundled_package_paths())


def model_identity(package: Any) -> dict[str, Any]:
    """``{"path", "name", "task", "sha256", "spine_rt_version", "bundled_demo"}`` of an open package.

    ``name`` is the network family and, for the bundled model, ``"(bundled
    demo, phantoms only)"``; ``sha256`` is the manifest's; the version is the
    running spine-rt's (the one that exported the package is in the
    manifest's provenance, copied as ``exported_with``).
    """
    from spine_rt import __version__
    from spine_rt.model_package.file_hash import sha256_file
    from spine_rt.model_package.model_package import MANIFEST_NAME

    root = Path(package.root)
    bundled = is_bundled_demo(root)
    manifest = package.manifest
    name = manifest.model + (" (bundled demo, trained on phantoms only)" if bundled else "")
    return {
        "path": str(root.resolve()),
        "name": name,
        "task": manifest.task,
        "sha256": sha256_file(root / MANIFEST_NAME),
        "spine_rt_version": __version__,
        "exported_with": (manifest.provenance.get("versions") or {}).get("spine-rt"),
        "bundled_demo": bundled,
    }


def identity_line(identity: dict[str, Any]) -> str:
    """``"model: sshsnet at /path (sha256 1a2b3c4d5e6f), spine-rt 0.1.0"`` for the command line."""
    return (f"model: {identity['name']} at {identity['path']} (manifest sha256 {identity['sha256'][:12]}), "
            f"spine-rt {identity['spine_rt_version']}")
