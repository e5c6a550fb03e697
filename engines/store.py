"""The engines of a package: the store ``PKG/engines/<key>/`` and opening a stored engine as a runner.

The engine store of a model package: ``PKG/engines/<key>/engine.json + <stage>.plan``.

::

    store = EngineStore(package.root)
    stored = store.write(stage="stage2", fold=0, graph="stage2/fold0.fp16.onnx",
                         key_parts=parts, plan=plan_bytes, build={...})   # atomic
    stored = store.find("stage2", requirement)      # or EnvironmentProblem saying what differs
    plan = stored.read_plan()

One folder per engine, named by its key (:mod:`spine_rt.engines.key`).
Writing fills a temporary folder and renames it into place, so a reader
never sees half an engine. Reading checks that the folder name, the key
recomputed from ``engine.json`` and the plan's sha256 all agree; file dates
are never looked at.

Open the stored engine of a package stage as a :class:`~spine_rt.runtime.tensorrt_runner.TensorRTRunner`.

::

    runner = open_engine_runner("pkg/", "stage2", device="cuda:0", batch=4)
    with runner:
        probs = runner.infer({"image": patches})["probabilities"]

The engine is looked up in ``PKG/engines/`` by what this machine and this
package are now (graph sha256, TensorRT version, GPU compute capability,
precision, batch). An engine built elsewhere or from an older graph is a
clear :class:`EnvironmentProblem` saying what differs, never a silent
fallback and never a rebuild behind the caller's back.

The GPU model is not part of the key (an engine runs on any GPU of its
compute capability), but TensorRT tunes its kernels for the GPU it built on:
an engine built on another model (an H100's engine on an H200) is used with
a :class:`GpuModelWarning` suggesting a rebuild for speed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.atomic_write import move_folder_into_place, new_temporary_folder
from spine_rt.engines.key import RECORD_NAME, EngineKeyParts, EngineRecord, EngineRequirement
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage, sha256_file
from spine_rt.runtime.machine import probe_machine


#: the store's folder inside a model package.
ENGINES_FOLDER = "engines"


def plan_file_name(stage: str) -> str:
    """``<stage>.plan``."""
    return f"{stage}.plan"


@dataclass(frozen=True)
class StoredEngine:
    """One engine in the store: its folder and its ``engine.json``."""

    folder: Path
    record: EngineRecord

    @property
    def key(self) -> str:
        """The engine key (the folder's name)."""
        return self.record.key

    @property
    def plan_path(self) -> Path:
        """Path of the serialized engine (``<stage>.plan``)."""
        return self.folder / self.record.plan

    def read_plan(self) -> bytes:
        """The serialized engine, checked against ``plan_sha256``.

        Raises:
            InputError: the plan file changed since it was written.
        """
        data = self.plan_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.record.plan_sha256:
            raise InputError(
                f"{self.plan_path}: the plan file does not match the sha256 in {RECORD_NAME}; it is corrupt, "
                "rebuild it with: spine-rt build-engine PKG --rebuild"
            )
        return data


class EngineStore:
    """The ``engines/`` folder of one model package.

    Args:
        package_root: the model package's folder (the store is ``package_root/engines``).
    """

    def __init__(self, package_root: str | os.PathLike) -> None:
        self.package_root = Path(package_root)
        self.root = self.package_root / ENGINES_FOLDER

    def folder(self, key: str) -> Path:
        """The folder of the engine with ``key`` (whether or not it exists)."""
        return self.root / key

    # ----------------------------------------------------------------- reading
    def read(self, key: str, verify_plan: bool = True) -> StoredEngine:
        """The engine stored under ``key``, after checking it.

        Checks: ``engine.json`` parses; its ``key`` equals the folder name and
        the key recomputed from its parts; the plan file exists with the
        recorded size and (with ``verify_plan``) sha256.

        Raises:
            InputError: no such engine, or one of the checks fails (says which).
        """
        folder = self.folder(key)
        record_path = folder / RECORD_NAME
        if not record_path.is_file():
            raise InputError(f"{folder}: no {RECORD_NAME}")
        record = EngineRecord.from_json(record_path.read_text(), source=str(record_path))
        if record.key != key:
            raise InputError(f"{record_path}: records key {record.key} but lies in folder {key}")
        if record.key_parts.unknown_parts:
            raise InputError(f"{record_path}: key parts {', '.join(record.key_parts.unknown_parts)} are missing")
        recomputed = record.key_parts.key()
        if recomputed != key:
            raise InputError(f"{record_path}: its key parts hash to {recomputed}, not {key}; the record was edited")
        if record.plan != plan_file_name(record.stage):
            raise InputError(f"{record_path}: plan file {record.plan!r} should be {plan_file_name(record.stage)!r}")
        plan_path = folder / record.plan
        if not plan_path.is_file():
            raise InputError(f"{folder}: {record.plan} is missing")
        if plan_path.stat().st_size != record.plan_bytes:
            raise InputError(f"{plan_path}: {plan_path.stat().st_size} bytes, {RECORD_NAME} says {record.plan_bytes}")
        if verify_plan and sha256_file(plan_path) != record.plan_sha256:
            raise InputError(f"{plan_path}: does not match the sha256 in {RECORD_NAME}; the plan is corrupt")
        return StoredEngine(folder, record)

    def check(self, key: str) -> tuple[StoredEngine | None, str | None]:
        """``(engine, None)`` when a valid engine is stored under ``key``, else ``(None, why not)``."""
        if not self.folder(key).is_dir():
            return None, "not built"
        try:
            return self.read(key), None
        except InputError as exc:
            return None, str(exc)

    def scan(self) -> tuple[list[StoredEngine], list[str]]:
        """Every readable engine (plans not hashed) and one line per engine folder that is not.

        Folders whose name starts with ``.`` (temporary) and folders without
        ``engine.json`` (e.g. timing caches) are skipped.
        """
        engines: list[StoredEngine] = []
        problems: list[str] = []
        if not self.root.is_dir():
            return engines, problems
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or folder.name.startswith(".") or not (folder / RECORD_NAME).exists():
                continue
            try:
                engines.append(self.read(folder.name, verify_plan=False))
            except InputError as exc:
                problems.append(str(exc))
        return engines, problems

    def find(self, stage: str, requirement: EngineRequirement, fold: int = 0) -> StoredEngine:
        """The stored engine of ``stage`` / ``fold`` that meets ``requirement``, its plan verified.

        Among several usable engines the plain (not version-compatible) one
        with the largest batch range wins, then the smallest key.

        Raises:
            EnvironmentProblem: no engine for the stage, or none usable here; the
                message lists what the closest engine does not match
                ("built for compute capability 8.0, this GPU is 9.0") and how to build one.
            InputError: the chosen engine's plan file is corrupt.
        """
        engines, problems = self.scan()
        candidates = [e for e in engines if e.record.stage == stage and e.record.fold == fold]
        build_hint = f"build one with: spine-rt build-engine {self.package_root} --stages {stage}"
        if not candidates:
            unreadable = f" ({len(problems)} unreadable engine folder(s): {problems[0]})" if problems else ""
            raise EnvironmentProblem(
                f"no TensorRT engine for stage {stage!r} fold {fold} in {self.root}{unreadable}; {build_hint}"
            )
        judged = [(requirement.differences(e.record.key_parts), e) for e in candidates]
        usable = [e for differences, e in judged if not differences]
        if usable:
            usable.sort(key=lambda e: (e.record.key_parts.version_compatible, -_max_batch(e.record.key_parts), e.key))
            return self.read(usable[0].key, verify_plan=True)
        differences, closest = min(judged, key=lambda pair: (len(pair[0]), pair[1].key))
        others = len(candidates) - 1
        also = f" ({others} other engine(s) for this stage do not match either)" if others else ""
        raise EnvironmentProblem(
            f"no usable TensorRT engine for stage {stage!r} fold {fold} in {self.root}: engine {closest.key} "
            f"{'; '.join(differences)}{also}; {build_hint}"
        )

    # ----------------------------------------------------------------- writing
    def write(
        self,
        *,
        stage: str,
        fold: int,
        graph: str,
        key_parts: EngineKeyParts,
        plan: bytes,
        build: dict[str, Any] | None = None,
    ) -> StoredEngine:
        """Store ``plan`` atomically under ``engines/<key>/`` (replacing an engine with the same key).

        Args:
            stage / fold / graph: which network and graph file the plan was built from.
            key_parts: the parts the key is computed from (none may be unknown).
            plan: the serialized engine.
            build: settings and facts for ``engine.json`` that do not enter the key.

        Raises:
            EnvironmentProblem: a key part is unknown.
            OSError: the package folder is not writable (nothing is left behind).
        """
        key = key_parts.key()
        record = EngineRecord(
            key=key,
            stage=stage,
            fold=int(fold),
            graph=graph,
            plan=plan_file_name(stage),
            plan_sha256=hashlib.sha256(plan).hexdigest(),
            plan_bytes=len(plan),
            key_parts=key_parts,
            build=dict(build or {}),
        )
        temporary = new_temporary_folder(self.root, key)
        try:
            _write_synced(temporary / record.plan, plan)
            _write_synced(temporary / RECORD_NAME, record.to_json().encode())
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        move_folder_into_place(temporary, self.folder(key))
        return StoredEngine(self.folder(key), record)


def _max_batch(parts: EngineKeyParts) -> int:
    return min((r.max[0] for r in parts.profile if r.max), default=0)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


LOG = logging.getLogger(__name__)


class GpuModelWarning(UserWarning):
    """A stored engine was built on another GPU model of the same compute capability."""


def gpu_model_difference(built_on: str | None, here: str | None) -> str | None:
    """Why an engine built on GPU ``built_on`` may run slower on GPU ``here`` (``None``: same model or unknown)."""
    if not built_on or not here or built_on.strip() == here.strip():
        return None
    return (f"the engine was built on {built_on.strip()}, this GPU is {here.strip()}: it runs (same compute "
            f"capability) with kernels tuned for the other GPU; rebuild it here for full speed with: "
            f"spine-rt build-engine PKG --rebuild")


def find_stage_engine(
    package: ModelPackage | str | os.PathLike,
    stage: str,
    *,
    fold: int = 0,
    device: str = "cuda:0",
    precision: str = "fp16",
    batch: int | None = None,
) -> StoredEngine:
    """The stored engine for ``stage`` / ``fold`` that runs on ``device`` with this package's graph.

    Args:
        package: an open package or its folder.
        stage: the stage name.
        fold: the fold.
        device: the CUDA device that will run it.
        precision: which graph the engine must come from.
        batch: a batch size the engine must accept (``None``: any).

    Raises:
        InputError: not a package, unknown stage, no graph at ``precision``.
        EnvironmentProblem: no engine, or none matching this machine (says what differs).
    """
    if not isinstance(package, ModelPackage):
        package = ModelPackage.open(package)
    graph = package.stage(stage).graph(precision, fold)
    machine = probe_machine(device)
    requirement = EngineRequirement(
        onnx_sha256=package.sha256(graph.path),
        precision=precision,
        tensorrt_version=machine.tensorrt_version,
        compute_capability=machine.compute_capability,
        graph=graph.path,
        batch=batch,
    )
    stored = EngineStore(package.root).find(stage, requirement, fold=fold)
    difference = gpu_model_difference(stored.record.build.get("gpu_name"), machine.gpu_name)
    if difference is not None:
        LOG.warning("%s %s fold %d: %s", package.root, stage, fold, difference)
        warnings.warn(f"{stage} fold {fold}: {difference}", GpuModelWarning, stacklevel=2)
    return stored


def open_engine_runner(
    package: ModelPackage | str | os.PathLike,
    stage: str,
    *,
    fold: int = 0,
    device: str = "cuda:0",
    precision: str = "fp16",
    batch: int | None = None,
    stream: Any = None,
    cuda_graph: bool = False,
) -> Any:
    """A :class:`TensorRTRunner` (not yet activated) for the engine :func:`find_stage_engine` finds.

    ``stream`` and ``cuda_graph`` are passed to the runner. Raises what
    :func:`find_stage_engine` raises.
    """
    from spine_rt.runtime.tensorrt_runner import TensorRTRunner

    stored = find_stage_engine(package, stage, fold=fold, device=device, precision=precision, batch=batch)
    return TensorRTRunner(
        stored.read_plan(),
        device=device,
        stream=stream,
        cuda_graph=cuda_graph,
        version_compatible=stored.record.key_parts.version_compatible,
        name=f"{stage} fold {fold} ({stored.key})",
    )
