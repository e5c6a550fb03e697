"""Runners for the stages of a model package, on the backend the pipeline chose.

* ``onnxruntime``: one :class:`~spine_rt.runtime.OnnxRuntimeRunner` per fold
  from the stage's ONNX graph at the chosen precision (fp32 by default on the
  CPU; the fp16 graph when asked for and present).
* ``torch``: the network is rebuilt with ``spine_rt.models.build(network,
  preset, **config)`` and the fold's weights are loaded; one
  :class:`~spine_rt.runtime.TorchRunner` per fold.
* ``openvino``: one :class:`~spine_rt.runtime.OpenVINORunner` per fold from
  the stage's FP32 graph, computing in fp32 (exact) or bf16; bf16 passes
  the gate of :mod:`spine_rt.pipelines.bf16_gate` first.
* ``tensorrt``: the engine the package's engine store holds for this GPU
  (``spine-rt build-engine PKG``), via
  :func:`spine_rt.engines.store.open_engine_runner`.
* ``triton``: one :class:`~spine_rt.runtime.TritonRunner` per fold for the
  model ``<prefix><stage>_fold<k>`` of a repository written by ``spine-rt
  triton-repo``, all sharing one :class:`~spine_rt.runtime.triton_servers.TritonServerPool`.

Every import of a backend happens inside these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from spine_rt.errors import InputError
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.stage_runners import StageRunners, select_folds

if TYPE_CHECKING:  # pragma: no cover
    from spine_rt.runtime.backends import BackendChoice

PRECISIONS = ("fp32", "fp16", "bf16")
#: backends that compute in bf16 (from the FP32 graph)
BF16_BACKENDS = ("openvino",)


def resolve_precision(precision: str | None, backend: str, device: str, package: ModelPackage,
                      stage_names: Sequence[str]) -> str:
    """The precision to run at: ``precision`` checked, or the default for backend and device.

    Default: fp32 on the CPU (bf16, openvino only, when asked for); fp16 on a CUDA device when every stage has an
    fp16 graph (onnxruntime, TensorRT) or always (torch casts the weights).

    Raises:
        InputError: unknown precision; fp16 with torch on the CPU or with
            openvino; bf16 on another backend than openvino; a precision
            whose graphs the package lacks (onnxruntime).
    """
    if precision is not None and precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; valid precisions: {', '.join(PRECISIONS)}")
    has_fp16 = all(any(g.precision == "fp16" for g in package.stage(s).graphs) for s in stage_names)
    if precision is None:
        if device == "cpu":
            return "fp32"
        return "fp16" if backend == "torch" or has_fp16 else "fp32"
    if precision == "fp16" and backend == "torch" and device == "cpu":
        raise InputError("precision fp16 with the torch backend needs a CUDA device; use fp32 on the CPU")
    if precision == "bf16" and backend not in BF16_BACKENDS:
        raise InputError(f"precision bf16 runs on the CPU backend {', '.join(BF16_BACKENDS)}; "
                         f"backend {backend} computes in fp32 or fp16")
    if precision == "fp16" and backend == "openvino":
        raise InputError("backend openvino computes in fp32 (exact) or bf16; use fp16 on a CUDA backend")
    if backend in ("onnxruntime", "tensorrt"):
        for name in stage_names:
            if not any(g.precision == precision for g in package.stage(name).graphs):
                raise InputError(f"{package.root}: stage {name} has no {precision} graph")
    return precision


def without_weightless_torch(choice: BackendChoice, reason: str, device: str | None, package: ModelPackage,
                             stage_names: Sequence[str]) -> tuple[BackendChoice, str]:
    """An automatic ``torch`` choice for a package without torch weights (built by ``spine-rt package``
    from ONNX graphs) -> the next available backend, with the reason; any other choice unchanged.

    Returns:
        ``(choice, reason)``; ``reason`` (the choice's so far) extended with why torch was passed over.
    """
    if choice.name != "torch" or all(package.stage(name).weights for name in stage_names):
        return choice, reason
    from spine_rt.runtime import available_backends

    fallback = next((c for c in available_backends(device) if c.name != "torch"), None)
    if fallback is None:
        return choice, reason
    return fallback, (f"{reason}; torch: the package has no torch weights (built from ONNX graphs) "
                      f"→ {fallback.name} on {fallback.device}")


def create_stage_runners(
    package: ModelPackage,
    stage_name: str,
    backend: str,
    device: str,
    precision: str,
    folds: Sequence[int] | None = None,
    batch_size: int | None = None,
    triton: tuple | None = None,
) -> StageRunners:
    """The runners of ``stage_name``, one per fold.

    Args:
        package: the open package.
        stage_name: ``"stage1"`` or ``"stage2"``.
        backend: ``"onnxruntime"``, ``"torch"``, ``"tensorrt"`` or ``"openvino"``.
        device: ``"cpu"`` or ``"cuda:N"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"`` (openvino).
        folds: which folds (default: all the stage has).
        batch_size: the batch the runners will get (TensorRT engines must accept it).
        triton: backend ``triton``: ``(TritonServerPool, model name prefix)``.

    Raises:
        InputError: unknown stage or fold, a missing graph or weight file.
        EnvironmentProblem: the backend cannot run (not installed, no engine for this GPU,
            bf16 on a CPU without AVX512_BF16 or AMX).
        Bf16Refused: bf16 changes too many labels of this stage (an InputError with the figure).
    """
    stage = package.stage(stage_name)
    chosen = select_folds(stage.folds, folds, stage_name)
    if backend == "onnxruntime":
        runners, sources = _onnxruntime_runners(package, stage_name, device, precision, chosen)
    elif backend == "torch":
        runners, sources = _torch_runners(package, stage_name, device, precision, chosen)
    elif backend == "tensorrt":
        runners, sources = _tensorrt_runners(package, stage_name, device, precision, chosen, batch_size)
    elif backend == "triton" and triton is not None:
        runners, sources = _triton_runners(stage_name, chosen, *triton)
    elif backend == "openvino":
        runners, sources = _openvino_runners(package, stage_name, precision, chosen, batch_size)
    else:
        raise InputError(f"unknown backend {backend!r}; valid backends: onnxruntime, torch, tensorrt, openvino, triton")
    return StageRunners(
        name=stage_name,
        runners=tuple(runners),
        folds=chosen,
        input_names=tuple(t.name for t in stage.inputs),
        output_names=tuple(t.name for t in stage.outputs),
        patch_size=tuple(int(p) for p in stage.patch_size),
        backend=backend,
        device=device,
        precision=precision,
        sources=tuple(sources),
    )


def _onnxruntime_runners(package, stage_name, device, precision, folds):
    from spine_rt.runtime import OnnxRuntimeRunner

    runners, sources = [], []
    for fold in folds:
        path = package.graph_path(stage_name, precision, fold)
        runners.append(OnnxRuntimeRunner(path, device=device, name=f"{stage_name}/{path.name}"))
        sources.append(str(path.relative_to(package.root.resolve())))
    return runners, sources


def _torch_runners(package, stage_name, device, precision, folds):
    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint
    from spine_rt.runtime import TensorSpec, TorchRunner

    stage = package.stage(stage_name)
    specs = [TensorSpec(t.name, t.shape, t.dtype) for t in stage.inputs]
    runners, sources = [], []
    for fold in folds:
        weights = [w for w in stage.weights if w.fold == fold]
        if not weights:
            raise InputError(f"{package.root}: stage {stage_name} has no torch weights for fold {fold}; "
                             "use backend='onnxruntime' or re-export the package with weights")
        network = build(stage.network, stage.preset, **stage.config)
        load_checkpoint(network, package.path(weights[0].path))
        runners.append(TorchRunner(network, specs, [t.name for t in stage.outputs], device=device,
                                   precision=precision, name=f"{stage_name}/fold{fold}"))
        sources.append(weights[0].path)
    return runners, sources


def _tensorrt_runners(package, stage_name, device, precision, folds, batch_size):
    from spine_rt.engines.store import open_engine_runner

    runners, sources = [], []
    for fold in folds:
        runner = open_engine_runner(package, stage_name, fold=fold, device=device, precision=precision,
                                    batch=batch_size)
        runners.append(runner)
        sources.append(runner.name)
    return runners, sources


def _triton_runners(stage_name, folds, pool, prefix):
    from spine_rt.runtime.triton_runner import TritonRunner
    from spine_rt.serving.triton_repository import triton_model_name

    runners = [TritonRunner(triton_model_name(stage_name, fold, prefix), pool) for fold in folds]
    return runners, [f"triton:{runner.model_name}" for runner in runners]


def _openvino_runners(package, stage_name, precision, folds, batch_size):
    from spine_rt.export.model_families import MODEL_FAMILIES
    from spine_rt.pipelines.bf16_gate import gate_stage
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    runners, sources = [], []
    try:
        for fold in folds:
            path = package.graph_path(stage_name, "fp32", fold)
            relative = str(path.relative_to(package.root.resolve()))
            runner = OpenVINORunner(path, precision=precision, batch=batch_size, graph_sha256=package.sha256(relative),
                                    name=f"{stage_name}/{path.name} {precision}")
            runners.append(runner)
            sources.append(relative)
            if precision == "bf16":
                family = MODEL_FAMILIES.get(package.manifest.model)
                class_output = (family.stage(stage_name).class_output
                                if family is not None and stage_name in family.stage_names else package.stage(stage_name).outputs[0].name)
                gate_stage(package, stage_name, runner, class_output)
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    return runners, sources
