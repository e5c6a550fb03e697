"""spine_rt.engines: ONNX -> TensorRT engines and the engine store (installed from engines/).

::

    from spine_rt.engines import BuildOptions, build_engines, open_engine_runner
    build_engines("pkg/", BuildOptions(max_batch=8))          # PKG/engines/<key>/{engine.json,<stage>.plan}
    runner = open_engine_runner("pkg/", "stage2", device="cuda:0")

Planning (profiles, keys, store layout, mismatch messages) is pure Python
and works without TensorRT; ``tensorrt`` and cuda-python are imported only
by the functions that build or run engines. Modules:

* :mod:`~spine_rt.engines.build_options` - options and their defaults
* :mod:`~spine_rt.engines.shape_profile` - min/opt/max shapes from the manifest
* :mod:`~spine_rt.engines.engine_key` - the key and its parts
* :mod:`~spine_rt.engines.engine_requirement` - what an engine must match, and what it does not
* :mod:`~spine_rt.engines.engine_record` - ``engine.json``
* :mod:`~spine_rt.engines.engine_store` - ``PKG/engines/`` (atomic writes, lookup)
* :mod:`~spine_rt.runtime.machine` - TensorRT version and GPU of this machine
* :mod:`~spine_rt.engines.build_plan` - what a build would do (``--dry-run``)
* :mod:`~spine_rt.engines.timing_cache` - the timing cache file
* :mod:`~spine_rt.engines.trt_builder` - ONNX -> plan with TensorRT
* :mod:`~spine_rt.engines.build_engines` - plan, build, store
* :mod:`~spine_rt.engines.engine_runner` - a checked engine as a ``TensorRTRunner``
"""

from spine_rt.engines.build_engines import EngineBuildResult, build_engines, plan_package_build
from spine_rt.engines.build_options import BuildOptions
from spine_rt.engines.build_plan import BuildPlan, StageBuild, plan_build
from spine_rt.engines.engine_key import EngineKeyParts
from spine_rt.engines.engine_record import EngineRecord
from spine_rt.engines.engine_requirement import EngineRequirement
from spine_rt.engines.engine_runner import find_stage_engine, open_engine_runner
from spine_rt.engines.engine_store import EngineStore, StoredEngine
from spine_rt.runtime.machine import MachineFacts, probe_machine
from spine_rt.engines.shape_profile import BatchRange, ShapeRange, stage_shape_ranges

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
