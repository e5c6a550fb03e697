"""Building the engines of a package: the plan (``--dry-run``) and the build that stores it.

**The build plan**: which engines ``spine-rt build-engine`` would build, from
which graphs, with which keys. Pure Python (no TensorRT needed), so
``--dry-run`` works on any machine and the planning is tested everywhere::

    package = ModelPackage.open("pkg/")
    plan = plan_build(package, BuildOptions(max_batch=8), probe_machine("cuda:0"))
    print(json.dumps(plan.to_dict(), indent=2))

Each :class:`StageBuild` is one engine: a stage and fold, the graph at the
requested precision (sha256 from the manifest), the optimization profile
from the manifest's input shapes and the batch range, the key parts and, when
this machine knows them all, the key and whether a valid engine with that key
is already stored. A stored engine built on another GPU model of the same
compute capability has the same key and is kept; its ``reason`` says so and
that ``--rebuild`` tunes it for this GPU (the words of the
:class:`~spine_rt.engines.store.GpuModelWarning` given when it is loaded).

**The build** (:func:`build_engines`): plan, compile and store the engines of
a model package::

    results = build_engines("pkg/", BuildOptions(max_batch=8, timing_cache=Path("trt.cache")))
    for result in results:
        print(result.stage, result.action, result.folder)

Order of checks: the package and the options (InputError, exit 2), then the
machine: TensorRT installed and a GPU visible (EnvironmentProblem with the
install hint, exit 3), then one build per planned engine. Engines that are
already stored with the same key are kept unless ``rebuild`` is set.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.engines.key import EngineKeyParts
from spine_rt.engines.options import BuildOptions, stage_shape_ranges
from spine_rt.engines.store import ENGINES_FOLDER, EngineStore, gpu_model_difference
from spine_rt.engines.tensorrt_build import (
    EngineBuildSettings,
    TimingCacheFile,
    build_serialized_engine,
    default_timing_cache_path,
    import_tensorrt,
)
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage
from spine_rt.runtime.devices import cuda_index
from spine_rt.runtime.machine import MachineFacts, probe_machine


#: what a plan says it will do for one engine.
ACTION_BUILD = "build"
ACTION_REBUILD = "rebuild"
ACTION_UP_TO_DATE = "up to date"
ACTION_CANNOT_BUILD = "cannot build on this machine"


@dataclass(frozen=True)
class StageBuild:
    """One engine of the plan.

    Attributes:
        stage / fold: the network and fold.
        graph: the ONNX graph's path in the package; ``graph_path`` is absolute.
        key_parts: the parts of the engine key (the profile among them).
        action: :data:`ACTION_BUILD`, :data:`ACTION_REBUILD`, :data:`ACTION_UP_TO_DATE`
            or :data:`ACTION_CANNOT_BUILD`.
        reason: why (e.g. what is unknown here, or why a stored engine is invalid).
    """

    stage: str
    fold: int
    graph: str
    graph_path: Path
    key_parts: EngineKeyParts
    action: str
    reason: str | None = None

    @property
    def key(self) -> str | None:
        """The engine key, or ``None`` when this machine cannot compute it."""
        return self.key_parts.key_or_none()


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build will do; :meth:`to_dict` is what ``--dry-run`` prints."""

    package_root: Path
    options: BuildOptions
    machine: MachineFacts
    timing_cache: Path | None
    stages: tuple[StageBuild, ...]

    @property
    def missing_on_this_machine(self) -> tuple[str, ...]:
        """What prevents a build here (``"TensorRT: not installed"``, ``"GPU: no GPU visible"``); empty when nothing."""
        missing = []
        if self.machine.tensorrt_version is None:
            missing.append(f"TensorRT: {self.machine.tensorrt_label}")
        if self.machine.compute_capability is None:
            missing.append(f"GPU: {self.machine.compute_capability_label}")
        return tuple(missing)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-serialisable data; unknown machine facts appear as the reason they are unknown."""
        batch = self.options.batch_range
        return {
            "package": str(self.package_root),
            "device": self.machine.device,
            "precision": self.options.resolved_precision,
            "batch": {"min": batch.min, "opt": batch.opt, "max": batch.max},
            "workspace_mb": self.options.workspace_mb,
            "opt_level": self.options.opt_level,
            "version_compatible": self.options.version_compatible,
            "rebuild": self.options.rebuild,
            "timing_cache": (
                str(self.timing_cache) if self.timing_cache is not None else "unknown until TensorRT and a GPU are present"
            ),
            "machine": {
                "tensorrt_version": self.machine.tensorrt_label,
                "compute_capability": self.machine.compute_capability_label,
                "gpu_name": self.machine.gpu_name,
            },
            "missing_on_this_machine": list(self.missing_on_this_machine),
            "engines": [self._stage_dict(build) for build in self.stages],
        }

    def _stage_dict(self, build: StageBuild) -> dict[str, Any]:
        parts = build.key_parts.to_dict()
        parts["tensorrt_version"] = self.machine.tensorrt_label
        parts["compute_capability"] = self.machine.compute_capability_label
        key = build.key
        return {
            "stage": build.stage,
            "fold": build.fold,
            "graph": build.graph,
            "graph_sha256": build.key_parts.onnx_sha256,
            "precision": build.key_parts.precision,
            "profile": [r.to_dict() for r in build.key_parts.profile],
            "key": key,
            "key_parts": parts,
            "engine_folder": f"{ENGINES_FOLDER}/{key}" if key else None,
            "action": build.action,
            "reason": build.reason,
        }


def plan_build(package: ModelPackage, options: BuildOptions, machine: MachineFacts) -> BuildPlan:
    """The build plan for ``package`` on ``machine``.

    Raises:
        InputError: an unknown stage or fold, a stage without a graph at the
            requested precision, or a manifest input shape that cannot be
            turned into a profile (one line each).
    """
    precision = options.resolved_precision
    stage_names = options.stages if options.stages is not None else tuple(package.manifest.stages)
    for name in stage_names:
        package.stage(name)  # InputError listing the stages when unknown
    store = EngineStore(package.root)
    batch = options.batch_range
    builds = []
    for name in stage_names:
        stage = package.stage(name)
        profile = stage_shape_ranges(stage, batch, name)
        for fold in _folds(package, name, precision, options.folds):
            entry = stage.graph(precision, fold)
            parts = EngineKeyParts(
                onnx_sha256=package.sha256(entry.path),
                tensorrt_version=machine.tensorrt_version,
                compute_capability=machine.compute_capability,
                profile=profile,
                precision=precision,
                version_compatible=options.version_compatible,
            )
            action, reason = _action(parts, store, options.rebuild, machine)
            builds.append(StageBuild(name, fold, entry.path, package.path(entry.path), parts, action, reason))
    timing_cache = options.timing_cache
    if timing_cache is None and machine.tensorrt_version and machine.compute_capability:
        timing_cache = default_timing_cache_path(store.root, machine.tensorrt_version, machine.compute_capability)
    return BuildPlan(package.root, options, machine, timing_cache, tuple(builds))


def _folds(package: ModelPackage, stage_name: str, precision: str, wanted: tuple[int, ...] | None) -> tuple[int, ...]:
    stage = package.stage(stage_name)
    available = tuple(sorted({g.fold for g in stage.graphs if g.precision == precision}))
    if not available:
        have = ", ".join(f"{g.precision}/fold{g.fold}" for g in stage.graphs) or "none"
        hint = (
            "export the package with FP16 graphs (spine-rt export --precision fp32,fp16), or build from the "
            "FP32 graph with --precision fp32"
            if precision == "fp16"
            else "export the package with FP32 graphs"
        )
        raise InputError(
            f"{package.root}: stage {stage_name} has no {precision} graph (graphs present: {have}); {hint}"
        )
    if wanted is None:
        return available
    missing = [fold for fold in wanted if fold not in available]
    if missing:
        raise InputError(
            f"{package.root}: stage {stage_name} has no {precision} graph for fold(s) "
            f"{', '.join(map(str, missing))} (folds with {precision} graphs: {', '.join(map(str, available))})"
        )
    return tuple(wanted)


def _action(parts: EngineKeyParts, store: EngineStore, rebuild: bool, machine: MachineFacts) -> tuple[str, str | None]:
    if parts.unknown_parts:
        missing = []
        if machine.tensorrt_version is None:
            missing.append(f"TensorRT {machine.tensorrt_label}")
        if machine.compute_capability is None:
            missing.append(machine.compute_capability_label)
        return ACTION_CANNOT_BUILD, f"the key needs what this machine lacks: {', '.join(missing)}"
    stored, why_not = store.check(parts.key())
    if stored is None:
        return ACTION_BUILD, why_not
    if rebuild:
        return ACTION_REBUILD, "--rebuild"
    # same key, so it runs here; built on another GPU model of this compute capability, it is kept, with why
    # a rebuild may be faster (the same words as the warning when it is loaded)
    return ACTION_UP_TO_DATE, gpu_model_difference(stored.record.build.get("gpu_name"), machine.gpu_name)


LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineBuildResult:
    """What happened to one planned engine.

    Attributes:
        stage / fold: the network and fold.
        key: the engine key.
        action: ``"built"`` or ``"up to date"``.
        folder: the engine's folder in the store.
        plan_bytes: size of the plan file.
    """

    stage: str
    fold: int
    key: str
    action: str
    folder: Path
    plan_bytes: int


def plan_package_build(
    package_path: str | os.PathLike, options: BuildOptions, machine: MachineFacts | None = None
) -> BuildPlan:
    """Open the package and plan the build (what ``--dry-run`` prints); needs neither TensorRT nor a GPU.

    Raises:
        InputError: a missing or corrupt package, an unknown stage/fold, no graph at the precision.
    """
    package = ModelPackage.open(package_path)
    machine = machine if machine is not None else probe_machine(options.resolved_device)
    return plan_build(package, options, machine)


def build_engines(
    package_path: str | os.PathLike,
    options: BuildOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[EngineBuildResult]:
    """Build (or keep) every engine the plan lists and store them in ``PKG/engines/``.

    Args:
        package_path: the model package folder.
        options: what to build.
        progress: called with one line before each engine is built (e.g. ``print``).

    Returns:
        One result per planned engine, in plan order.

    Raises:
        InputError: bad package or options.
        EnvironmentProblem: TensorRT not installed (with the install hint), no
            GPU visible, or TensorRT failed to build.
    """
    plan = plan_package_build(package_path, options)
    import_tensorrt("spine-rt build-engine")
    if plan.missing_on_this_machine:
        raise EnvironmentProblem(
            f"cannot build TensorRT engines on this machine: {'; '.join(plan.missing_on_this_machine)}; "
            "engines are built on the GPU that will run them (check nvidia-smi; cuda-python or a CUDA torch "
            "reads the compute capability: pip install cuda-python)"
        )
    _select_build_device(plan.machine.device)
    store = EngineStore(plan.package_root)
    timing_cache = TimingCacheFile(plan.timing_cache) if plan.timing_cache is not None else None
    settings = EngineBuildSettings(options.workspace_mb, options.opt_level, options.version_compatible)
    results = []
    for build in plan.stages:
        key = build.key_parts.key()
        if build.action == ACTION_UP_TO_DATE:
            if progress is not None and build.reason is not None:
                progress(f"{build.stage} fold {build.fold}: kept; {build.reason}")
            stored = store.read(key, verify_plan=False)
            results.append(
                EngineBuildResult(build.stage, build.fold, key, ACTION_UP_TO_DATE, stored.folder, stored.record.plan_bytes)
            )
            continue
        if progress is not None:
            progress(f"building {build.stage} fold {build.fold} from {build.graph} ({build.action}) ...")
        plan_bytes = build_serialized_engine(build.graph_path, build.key_parts.profile, settings, timing_cache)
        stored = store.write(
            stage=build.stage,
            fold=build.fold,
            graph=build.graph,
            key_parts=build.key_parts,
            plan=plan_bytes,
            build={
                "workspace_mb": options.workspace_mb,
                "opt_level": options.opt_level,
                "timing_cache": str(plan.timing_cache) if plan.timing_cache else None,
                "gpu_name": plan.machine.gpu_name,
                "device": plan.machine.device,
                "spine_rt": _spine_rt_version(),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
        LOG.info("stored engine %s for %s fold %d (%d bytes)", key, build.stage, build.fold, len(plan_bytes))
        results.append(EngineBuildResult(build.stage, build.fold, key, "built", stored.folder, len(plan_bytes)))
    return results


def _select_build_device(device: str) -> None:
    """Make ``device`` current for TensorRT's builder (cuda-python; torch when cuda-python is absent)."""
    index = cuda_index(device)
    if index is None:  # pragma: no cover - BuildOptions refuses cpu
        return
    from spine_rt.dependencies import cuda_python_installed

    if cuda_python_installed():
        from spine_rt.runtime.cuda_memory import set_device

        set_device(index)
        return
    if index != 0:
        import torch  # visible_gpus answered through torch, so it is installed

        torch.cuda.set_device(index)


def _spine_rt_version() -> str:
    import spine_rt

    return spine_rt.__version__
