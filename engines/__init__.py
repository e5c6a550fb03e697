"""spine_rt.engines: ONNX -> TensorRT engines and the engine store (installed from engines/).

::

    from spine_rt.engines import BuildOptions, build_engines, open_engine_runner
    build_engines("pkg/", BuildOptions(max_batch=8))          # PKG/engines/<key>/{engine.json,<stage>.plan}
    runner = open_engine_runner("pkg/", "stage2", device="cuda:0")

Planning (profiles, keys, store layout, mismatch messages) is pure Python
and works without TensorRT; ``tensorrt`` and cuda-python are imported only
by the functions that build or run engines. Modules:

* :mod:`~spine_rt.engines.options` - build options and their defaults, min/opt/max shape profiles
* :mod:`~spine_rt.engines.key` - the key and its parts, what an engine must match, ``engine.json``
* :mod:`~spine_rt.engines.store` - ``PKG/engines/`` (atomic writes, lookup), a checked engine as a
  ``TensorRTRunner``
* :mod:`~spine_rt.engines.build` - what a build would do (``--dry-run``), then plan, build, store
* :mod:`~spine_rt.engines.tensorrt_build` - ONNX -> plan with TensorRT, the timing cache file

The machine's side of a key (TensorRT version, GPU) is
:func:`spine_rt.runtime.machine.probe_machine`.
"""

from spine_rt.engines.build import (
    BuildPlan,
    EngineBuildResult,
    StageBuild,
    build_engines,
    plan_build,
    plan_package_build,
)
from spine_rt.engines.key import EngineKeyParts, EngineRecord, EngineRequirement
from spine_rt.engines.options import BatchRange, BuildOptions, ShapeRange, stage_shape_ranges
from spine_rt.engines.store import EngineStore, StoredEngine, find_stage_engine, open_engine_runner
from spine_rt.runtime.machine import MachineFacts, probe_machine

__all__ = [
    "BatchRange",
    "BuildOptions",
    "BuildPlan",
    "EngineBuildResult",
    "EngineKeyParts",
    "EngineRecord",
    "EngineRequirement",
    "EngineStore",
    "MachineFacts",
    "ShapeRange",
    "StageBuild",
    "StoredEngine",
    "build_engines",
    "find_stage_engine",
    "open_engine_runner",
    "plan_build",
    "plan_package_build",
    "probe_machine",
    "stage_shape_ranges",
]
