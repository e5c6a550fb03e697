"""Open a model package folder and check it against its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spine_rt.errors import InputError
from spine_rt.model_package.file_hash import sha256_file
from spine_rt.model_package.manifest import GraphFile, Manifest, Stage

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ModelPackage:
    """A model package on disk: its folder and its parsed manifest.

    Use :meth:`open`; paths in the manifest are relative to ``root``.
    """

    root: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> "ModelPackage":
        """Read ``path/manifest.json``; with ``verify``, check every listed file's sha256.

        Raises:
            InputError: not a folder, no or malformed manifest, a listed file
                missing, or a sha256 that does not match (names the file).
        """
        root = Path(path)
        if not root.is_dir():
            raise InputError(f"{root}: not a model package (no such folder)")
        manifest_path = root / MANIFEST_NAME
        if not manifest_path.is_file():
            raise InputError(f"{root}: not a model package (no {MANIFEST_NAME})")
        manifest = Manifest.from_json(manifest_path.read_text(), source=str(manifest_path))
        package = cls(root=root, manifest=manifest)
        if verify:
            package.verify()
        return package

    def verify(self) -> None:
        """Check that every file in ``manifest.files`` exists and matches its sha256."""
        for relative, expected in self.manifest.files.items():
            path = self.path(relative)
            if not path.is_file():
                raise InputError(f"{self.root}: {relative} is listed in the manifest but missing")
            actual = sha256_file(path)
            if actual != expected:
                raise InputError(
                    f"{self.root}: {relative} does not match the manifest's sha256 "
                    f"(expected {expected[:12]}..., file has {actual[:12]}...); the package was modified or is corrupt"
                )
        for stage_name, stage in self.manifest.stages.items():
            for entry in [*stage.graphs, *stage.weights]:
                if entry.path not in self.manifest.files:
                    raise InputError(f"{self.root}: stage {stage_name} names {entry.path}, which has no sha256 in the manifest")

    def path(self, relative: str) -> Path:
        """Absolute path of a file named in the manifest (refuses paths leaving the package)."""
        candidate = (self.root / relative).resolve()
        if self.root.resolve() not in candidate.parents:
            raise InputError(f"{self.root}: manifest path {relative!r} points outside the package")
        return candidate

    def stage(self, name: str) -> Stage:
        """The stage called ``name``; InputError listing the stages otherwise."""
        try:
            return self.manifest.stages[name]
        except KeyError:
            raise InputError(f"{self.root}: no stage {name!r} (stages: {', '.join(self.manifest.stages)})") from None

    def graph_path(self, stage: str, precision: str, fold: int = 0) -> Path:
        """Path of the ONNX graph of ``stage`` at ``precision`` and ``fold``."""
        entry: GraphFile = self.stage(stage).graph(precision, fold)
        return self.path(entry.path)

    def sha256(self, relative: str) -> str:
        """The manifest's sha256 of ``relative``."""
        return self.manifest.files[relative]
