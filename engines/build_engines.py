"""``build_engines``: plan, compile and store the engines of a model package.

::

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

from spine_rt.engines.build_options import BuildOptions
from spine_rt.engines.build_plan import ACTION_UP_TO_DATE, BuildPlan, plan_build
from spine_rt.engines.engine_store import EngineStore
from spine_rt.runtime.machine import MachineFacts, probe_machine
from spine_rt.engines.timing_cache import TimingCacheFile
from spine_rt.engines.trt_builder import EngineBuildSettings, build_serialized_engine, import_tensorrt
from spine_rt.errors import EnvironmentProblem
from spine_rt.model_package import ModelPackage
from spine_rt.runtime.devices import cuda_index

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
