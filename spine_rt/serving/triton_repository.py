"""``spine-rt triton-repo``: a Triton model repository from a model package, one model per stage and fold.

::

    REPO/
      spine-rt-repository.json          what was written, from which package (Triton ignores it)
      stage1_fold0/config.pbtxt         inputs, outputs, max batch, dynamic batching, instances
      stage1_fold0/1/model.onnx         (onnxruntime, python) or model.plan (tensorrt)
      stage1_fold0/1/model.py           (python: Triton's Python backend hosting onnxruntime)
      stage2_fold0/...

Model names are ``<prefix><stage>_fold<k>`` (:func:`triton_model_name`);
:class:`~spine_rt.runtime.TritonRunner` s of a pipeline look them up by the
same rule. The batch profile of a stage is the batch the pipelines send
(stage one 8 slices, stage two 4 windows, X-ray 1 picture, or a TensorRT
engine's optimization profile): the dynamic batcher prefers that batch and
its multiples up to the max batch (default twice that batch; the engine's
max for TensorRT), so requests of several callers are merged into one execution.

Flavours: ``onnxruntime`` (the package's ONNX graph, fp32 or the fp16 graph
with ``precision="fp16"``), ``tensorrt`` (the engine the package's engine
store holds for the named GPU; ``spine-rt build-engine`` makes it) and
``python`` (the ONNX graph plus ``model.py``; the only flavour the
tritonserver of the nvidia-pytriton wheel can run, see
:mod:`spine_rt.serving.triton_server`). The repository is filled in a
temporary folder beside ``out``, every ``config.pbtxt`` is parsed with
Triton's protobuf definition (when tritonclient is installed) and only then
renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from spine_rt.atomic_write import move_folder_into_place, new_temporary_folder
from spine_rt.dependencies import is_available
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage, PRECISIONS
from spine_rt.serving.triton_model_config import FLAVOURS, TritonModelConfig, parse_model_config

RECORD_NAME = "spine-rt-repository.json"
PYTHON_MODEL_SOURCE = Path(__file__).with_name("triton_python_model.py")
#: the batch each pipeline sends per call, by stage name (spine_rt.pipelines' defaults)
DEFAULT_QUEUE_DELAY_US = 2000


def triton_model_name(stage: str, fold: int, prefix: str = "") -> str:
    """``<prefix><stage>_fold<fold>``, e.g. ``stage2_fold0`` or ``spine_stage2_fold0``."""
    return f"{prefix}{stage}_fold{int(fold)}"


def pipeline_batch(stage: str) -> int:
    """The batch a spine-rt pipeline sends to ``stage`` per call with its default options."""
    from spine_rt.pipelines.load import XRAY_BATCH_SIZE
    from spine_rt.pipelines.options import PipelineOptions

    defaults = PipelineOptions(host_threads=False)
    return {"stage1": defaults.stage_one_batch_size, "stage2": defaults.batch_size}.get(stage, XRAY_BATCH_SIZE)


@dataclass(frozen=True)
class RepositoryOptions:
    """What ``triton-repo`` writes (``None`` = the default named here).

    Attributes:
        flavour: ``tensorrt``, ``onnxruntime`` (default) or ``python``.
        precision: which graph: ``fp32`` (default; ``fp16`` for tensorrt).
        max_batch: the models' max batch (default: twice the pipeline batch; the engine's max for tensorrt).
        instances: model instances per device (default 1).
        instance_kind: ``auto`` (GPU for tensorrt/onnxruntime, CPU for python), ``cpu`` or ``gpu``.
        dynamic_batching: ``"auto"`` (preferred sizes from the batch profile), ``"off"``, or
            preferred sizes ``"4,8"``.
        queue_delay_us: the batcher's max queue delay in microseconds (default 2000).
        gpu: tensorrt: the GPU the engines are for, by name (``"NVIDIA H100 80GB HBM3"``, a
            case-insensitive part of it such as ``h100``) or compute capability (``"9.0"``);
            default: the only GPU the store has engines for.
        model_name_prefix: put before every model name (several packages on one server).
        threads: python flavour: onnxruntime intra-op threads per instance (default: onnxruntime's).
        overwrite: replace an existing ``out``.
    """

    flavour: str | None = None
    precision: str | None = None
    max_batch: int | None = None
    instances: int | None = None
    instance_kind: str | None = None
    dynamic_batching: str | None = None
    queue_delay_us: int | None = None
    gpu: str | None = None
    model_name_prefix: str | None = None
    threads: int | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class WrittenModel:
    """One model of the written repository."""

    name: str
    stage: str
    fold: int
    source: str
    config: TritonModelConfig


def write_triton_repository(package: str | os.PathLike | ModelPackage, out: str | os.PathLike,
                            options: RepositoryOptions | None = None) -> list[WrittenModel]:
    """Write the Triton model repository of ``package`` to ``out`` (atomically).

    Returns:
        The models written, in stage and fold order.

    Raises:
        InputError: not a package; a bad option; ``out`` exists (without ``overwrite``),
            is a file, or lies inside the package; the precision's graph is missing.
        EnvironmentProblem: tensorrt: no engine for the named GPU in the package's engine store.
    """
    options = options or RepositoryOptions()
    opened = package if isinstance(package, ModelPackage) else ModelPackage.open(package, verify=True)
    target = Path(out)
    _check_target(target, opened.root, options.overwrite)
    flavour = options.flavour or "onnxruntime"
    if flavour not in FLAVOURS:
        raise InputError(f"unknown flavour {flavour!r}; valid: {', '.join(FLAVOURS)}")
    precision = options.precision or ("fp16" if flavour == "tensorrt" else "fp32")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if options.threads is not None and (flavour != "python" or options.threads < 1):
        raise InputError("threads applies to the python flavour and must be a positive integer")
    prefix = options.model_name_prefix or ""
    if prefix and not all(c.isalnum() or c in "_-." for c in prefix):
        raise InputError(f"model name prefix {prefix!r}: use letters, digits, '_', '-' or '.'")

    planned = _plan(opened, flavour, precision, options, prefix)
    folder = new_temporary_folder(target.resolve().parent, target.name)
    try:
        for model, file in planned:
            version = folder / model.name / "1"
            version.mkdir(parents=True)
            text = model.config.to_pbtxt()
            if is_available("tritonclient"):
                parse_model_config(text, source=f"{model.name}/config.pbtxt")
            (folder / model.name / "config.pbtxt").write_text(text)
            if flavour == "tensorrt":
                shutil.copyfile(file, version / "model.plan")
            else:
                shutil.copyfile(file, version / "model.onnx")
            if flavour == "python":
                shutil.copyfile(PYTHON_MODEL_SOURCE, version / "model.py")
        record = {"format_version": 1, "package": str(opened.root.resolve()), "flavour": flavour,
                  "precision": precision, "model_name_prefix": prefix,
                  "models": [{"name": m.name, "stage": m.stage, "fold": m.fold, "source": m.source,
                              "max_batch_size": m.config.max_batch_size,
                              "preferred_batch_sizes": list(m.config.preferred_batch_sizes or ())}
                             for m, _ in planned]}
        (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    move_folder_into_place(folder, target)
    return [model for model, _ in planned]


# --------------------------------------------------------------------------- planning
def _check_target(target: Path, package_root: Path, overwrite: bool) -> None:
    resolved, root = target.resolve(), package_root.resolve()
    if resolved == root or root in resolved.parents or resolved in root.parents:
        raise InputError(f"{target}: the repository must lie outside the package {package_root} (and not contain it)")
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder")
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists; pass --overwrite to replace it")
    if not resolved.parent.is_dir():
        raise InputError(f"{resolved.parent}: the folder for the repository does not exist")


def _plan(package: ModelPackage, flavour: str, precision: str, options: RepositoryOptions,
          prefix: str) -> list[tuple[WrittenModel, Path]]:
    planned = []
    for stage_name, stage in package.manifest.stages.items():
        folds = sorted({g.fold for g in stage.graphs if g.precision == precision})
        if not folds:
            raise InputError(f"{package.root}: stage {stage_name} has no {precision} graph "
                             f"(precisions present: {', '.join(sorted({g.precision for g in stage.graphs}))})")
        for fold in folds:
            if flavour == "tensorrt":
                file, source, (opt, largest) = _engine(package, stage_name, fold, precision, options.gpu)
                if options.max_batch is not None and options.max_batch > largest:
                    raise InputError(f"--max-batch {options.max_batch}: the engine of {stage_name} fold {fold} "
                                     f"accepts at most batch {largest}; rebuild it with spine-rt build-engine "
                                     f"--max-batch {options.max_batch}")
                batch, max_batch = opt, options.max_batch or largest
            else:
                entry = stage.graph(precision, fold)
                file, source = package.path(entry.path), entry.path
                batch = pipeline_batch(stage_name)
                max_batch = options.max_batch or 2 * batch
            name = triton_model_name(stage_name, fold, prefix)
            parameters = {"spine_rt_stage": stage_name, "spine_rt_fold": str(fold), "spine_rt_precision": precision,
                          "spine_rt_source": source}
            if options.threads is not None:
                parameters["intra_op_threads"] = str(options.threads)
            config = TritonModelConfig(
                name=name, flavour=flavour, inputs=stage.inputs, outputs=stage.outputs, max_batch_size=max_batch,
                preferred_batch_sizes=_preferred(options.dynamic_batching, batch, max_batch),
                queue_delay_us=DEFAULT_QUEUE_DELAY_US if options.queue_delay_us is None else options.queue_delay_us,
                instances=1 if options.instances is None else options.instances,
                instance_kind=options.instance_kind or "auto", parameters=parameters)
            planned.append((WrittenModel(name, stage_name, fold, source, config), file))
    return planned


def _preferred(spec: str | None, batch: int, max_batch: int) -> tuple[int, ...] | None:
    """The preferred batch sizes: multiples of the pipeline batch up to the max (``auto``), none (``off``) or given."""
    text = (spec or "auto").strip().lower()
    if text == "off":
        return None
    if text == "auto":
        sizes = tuple(range(batch, max_batch + 1, batch)) or (max_batch,)
        return sizes if max_batch in sizes else (*sizes, max_batch)
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise InputError(f"--dynamic-batching {spec!r}: write auto, off, or preferred batch sizes such as 4,8") from None


def _engine(package: ModelPackage, stage: str, fold: int, precision: str,
            gpu: str | None) -> tuple[Path, str, tuple[int, int]]:
    """The stored engine of ``stage``/``fold`` for ``gpu``: ``(plan path, engines/<key>, (opt batch, max batch))``."""
    from spine_rt.engines.store import EngineStore

    store = EngineStore(package.root)
    engines, _ = store.scan()
    graph = package.stage(stage).graph(precision, fold)
    current = [e for e in engines if e.record.stage == stage and e.record.fold == fold
               and e.record.key_parts.onnx_sha256 == package.sha256(graph.path)
               and e.record.key_parts.precision == precision]
    hint = f"build one on that GPU with: spine-rt build-engine {package.root} --stages {stage}"
    if not current:
        raise EnvironmentProblem(f"no {precision} TensorRT engine of the current graph for {stage} fold {fold} "
                                 f"in {store.root}; {hint}")

    def label(e) -> str:
        return f"{e.record.build.get('gpu_name') or 'unknown GPU'} (compute capability {e.record.key_parts.compute_capability})"

    if gpu is None:
        gpus = sorted({label(e) for e in current})
        if len(gpus) > 1:
            raise InputError(f"{stage} fold {fold} has engines for several GPUs ({'; '.join(gpus)}); name one with --gpu")
        chosen = current
    else:
        wanted = gpu.strip().lower()
        chosen = [e for e in current if wanted == str(e.record.key_parts.compute_capability).lower()
                  or wanted in str(e.record.build.get("gpu_name") or "").lower()]
        if not chosen:
            have = "; ".join(sorted({label(e) for e in current}))
            raise EnvironmentProblem(f"no TensorRT engine of {stage} fold {fold} for GPU {gpu!r} (engines exist for: "
                                     f"{have}); {hint}")
    chosen.sort(key=lambda e: (e.record.key_parts.version_compatible,
                               -min((r.max[0] for r in e.record.key_parts.profile), default=0), e.key))
    engine = store.read(chosen[0].key, verify_plan=True)
    profile = engine.record.key_parts.profile
    opt = min((r.opt[0] for r in profile), default=1)
    largest = min((r.max[0] for r in profile), default=1)
    return engine.plan_path, f"engines/{engine.key}", (opt, largest)
