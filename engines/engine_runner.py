"""Open the stored engine of a package stage as a :class:`~spine_rt.runtime.tensorrt_runner.TensorRTRunner`.

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

import logging
import os
import warnings
from typing import Any

from spine_rt.engines.engine_requirement import EngineRequirement
from spine_rt.engines.engine_store import EngineStore, StoredEngine
from spine_rt.runtime.machine import probe_machine
from spine_rt.model_package import ModelPackage

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
