"""Runners for the stages of a model package (or for torch networks), on the backend the pipeline chose.

The one place where stages become :class:`StageRunners`:

* ``onnxruntime``: one :class:`~spine_rt.runtime.OnnxRuntimeRunner` per fold
  from the stage's ONNX graph at the chosen precision (fp32 by default on the
  CPU; the fp16 graph when asked for and present).
* ``torch``: the network is rebuilt with ``spine_rt.models.build(network,
  preset, **config)`` and the fold's weights are loaded
  (:func:`build_stage_module`); one :class:`~spine_rt.runtime.TorchRunner` per
  fold. :func:`module_stage_runners` does the same for networks given
  directly (no package: tests, benchmarks, parity checks).
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
from typing import Any

from spine_rt.errors import InputError
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.stage_runners import StageRunners, select_folds
from spine_rt.runtime.backends import BF16_BACKENDS, PIPELINE_BACKENDS, PRECISIONS

#: stage one's window when networks are given without one (SEEDS: training crops 256 x 512),
#: as (S->I, A->P) pixels at half resolution: the long side along the spine, as the training recipe crops
DEFAULT_STAGE_ONE_PATCH = (512, 256)


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


def missing_torch_weights(package: ModelPackage, stage_names: Sequence[str]) -> str | None:
    """Why the ``torch`` backend cannot serve ``package`` (built by ``spine-rt package`` from ONNX graphs,
    without torch weights), or ``None`` when every stage has weights.

    ``load_pipeline`` gives this to :func:`spine_rt.runtime.backends.build_on_backend`, so that
    ``auto`` passes over torch for such a package, saying why.
    """
    if all(package.stage(name).weights for name in stage_names):
        return None
    return "the package has no torch weights (built from ONNX graphs)"


def create_stage_runners(
    package: ModelPackage,
    stage_name: str,
    backend: str,
    device: str,
    precision: str,
    folds: Sequence[int] | None = None,
    batch_size: int | None = None,
    triton: tuple | None = None,
    bf16_gate: str = "refuse",
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
        bf16_gate: ``"refuse"`` (default) or ``"report"`` (benchmarks: a failed BF16 gate is set on the
            runners as ``bf16_verdict`` instead of raised; :mod:`spine_rt.pipelines.bf16_gate`).

    Raises:
        InputError: unknown stage or fold, a missing graph or weight file.
        EnvironmentProblem: the backend cannot run (not installed, no engine for this GPU,
            bf16 on a CPU without AVX512_BF16 or AMX).
        Bf16Refused: bf16 changes too many labels of this stage (an InputError with the figure), unless
            ``bf16_gate="report"``.
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
        runners, sources = _openvino_runners(package, stage_name, precision, chosen, batch_size, bf16_gate)
    else:
        raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(PIPELINE_BACKENDS[1:])}")
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
    from spine_rt.runtime import TensorSpec

    stage = package.stage(stage_name)
    for fold in folds:
        if not any(w.fold == fold for w in stage.weights):
            raise InputError(f"{package.root}: stage {stage_name} has no torch weights for fold {fold}; "
                             "use backend='onnxruntime' or re-export the package with weights")
    specs = [TensorSpec(t.name, t.shape, t.dtype) for t in stage.inputs]
    modules = [build_stage_module(package, stage_name, fold) for fold in folds]
    runners = torch_runners(modules, specs, [t.name for t in stage.outputs], stage_name, folds,
                            device=device, precision=precision)
    return runners, [next(w.path for w in stage.weights if w.fold == fold) for fold in folds]


def build_stage_module(package: ModelPackage, stage: str, fold: int = 0) -> Any:
    """The torch network of ``stage`` and ``fold`` with the package's weights, in eval mode (CPU, FP32).

    Raises:
        InputError: unknown stage, no weights for ``fold``, or weights that do
            not fit the recorded configuration.
    """
    from spine_rt.models import build
    from spine_rt.models.checkpoint import load_checkpoint

    entry = package.stage(stage)
    weights = [w for w in entry.weights if w.fold == fold]
    if not weights:
        have = ", ".join(str(w.fold) for w in entry.weights) or "none"
        raise InputError(f"{package.root}: stage {stage} has no weights for fold {fold} (folds with weights: {have})")
    module = build(entry.network, entry.preset, **entry.config)
    load_checkpoint(module, package.path(weights[0].path))
    return module.eval()


def stage_torch_runner(package: ModelPackage, stage: str, fold: int = 0, device: str = "cpu",
                       precision: str = "fp32") -> Any:
    """A single :class:`~spine_rt.runtime.TorchRunner` for ``stage``/``fold`` with the manifest's input and
    output names (parity checks, stage benchmarks).

    Raises:
        InputError: see :func:`build_stage_module`.
        EnvironmentProblem: ``device`` is a CUDA device torch cannot use.
    """
    from spine_rt.runtime import TensorSpec, TorchRunner

    entry = package.stage(stage)
    specs = [TensorSpec(tensor.name, tensor.shape, tensor.dtype) for tensor in entry.inputs]
    return TorchRunner(build_stage_module(package, stage, fold), specs, [t.name for t in entry.outputs],
                       device=device, precision=precision, name=f"{stage} fold{fold} torch")


def torch_runners(modules: Sequence[Any], specs: Sequence[Any], output_names: Sequence[str], stage_name: str,
                  folds: Sequence[int], **options: Any) -> list[Any]:
    """One :class:`~spine_rt.runtime.TorchRunner` per network (fold), named ``<stage>/fold<k>``.

    ``options``: TorchRunner's (``device``, ``precision``, ``cuda_graph``, ``channels_last``).
    """
    from spine_rt.runtime import TorchRunner

    return [TorchRunner(module, list(specs), list(output_names), name=f"{stage_name}/fold{fold}", **options)
            for module, fold in zip(modules, folds)]


def module_stage_runners(
    stage_one: Any,
    stage_two: Any,
    *,
    stage_one_patch: Sequence[int] = DEFAULT_STAGE_ONE_PATCH,
    device: str = "cpu",
    precision: str = "fp32",
    cuda_graph: bool = False,
    channels_last: bool = False,
) -> tuple[StageRunners, StageRunners]:
    """Both stages' runners for torch networks given directly: one TorchRunner per network (fold).

    Each runner moves its module to its device and precision **in place** on
    activation: give every configuration its own copy of the networks (``copy.deepcopy``).

    Args:
        stage_one: a ``stage1_pair`` network, or one per fold (a sequence).
        stage_two: a ``stage2`` network, or one per fold; its ``config.patch_size``
            ``(X, Y, Z)`` is the stage-two patch.
        stage_one_patch: stage one's window ``(X, Y)`` at half resolution.
        device / precision / cuda_graph / channels_last: TorchRunner's options.

    Raises:
        InputError: an invalid option (e.g. ``cuda_graph`` on the CPU).
        EnvironmentProblem: torch is missing or the device is not visible.
    """
    from spine_rt.runtime import TensorSpec

    ones = list(stage_one) if isinstance(stage_one, (list, tuple)) else [stage_one]
    twos = list(stage_two) if isinstance(stage_two, (list, tuple)) else [stage_two]
    config = twos[0].config
    patch_two = tuple(int(p) for p in config.patch_size)
    patch_one = tuple(int(p) for p in stage_one_patch)
    feature_grid = (patch_two[0] // 4, patch_two[1] // 4, patch_two[2])
    options = {"device": device, "precision": precision, "cuda_graph": cuda_graph, "channels_last": channels_last}
    specs = {
        "stage1": [TensorSpec("slices", (None, 3, *patch_one), "float32")],
        "stage2": [TensorSpec("image", (None, 1 + int(config.num_classes), *patch_two), "float32"),
                   TensorSpec("stage_one_features", (None, int(config.stage_one_feature_channels), *feature_grid),
                              "float32")],
    }
    outputs = {"stage1": ("probabilities", "features"), "stage2": ("logits",)}
    stages = []
    for name, modules, patch in (("stage1", ones, patch_one), ("stage2", twos, patch_two)):
        folds = tuple(range(len(modules)))
        stages.append(StageRunners(
            name=name, runners=tuple(torch_runners(modules, specs[name], outputs[name], name, folds, **options)),
            folds=folds, input_names=tuple(s.name for s in specs[name]), output_names=outputs[name],
            patch_size=patch, backend="torch", device=device, precision=precision, sources=("module",) * len(folds),
        ))
    return stages[0], stages[1]


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


def _openvino_runners(package, stage_name, precision, folds, batch_size, bf16_gate="refuse"):
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
                gate_stage(package, stage_name, runner, class_output, bf16_gate)
    except BaseException:
        for runner in runners:
            runner.close()
        raise
    return runners, sources
