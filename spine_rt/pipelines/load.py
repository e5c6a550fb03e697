"""Building a pipeline: from a model package of either task, or from torch modules.

:func:`load_pipeline` is ``spine_rt.load_pipeline``: it resolves every
option once into a :class:`~spine_rt.pipelines.options.PipelineOptions`,
opens the package, makes one runner per stage per fold on the backend
:func:`spine_rt.runtime.backends.build_on_backend` chooses (``auto`` falls
back there, recording why) and builds the pipeline of the manifest's task:
a :class:`SpineMrPipeline` (``spine_mr``) or an :class:`XrayPipeline`
(``xray``). :func:`pipeline_from_modules` wraps torch networks directly
(tests, benchmarks against other schedules on the same modules).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from spine_rt.errors import InputError
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.options import MR_ONLY, PipelineOptions
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
from spine_rt.pipelines.runner_factory import (
    DEFAULT_STAGE_ONE_PATCH,
    create_stage_runners,
    missing_torch_weights,
    module_stage_runners,
    resolve_precision,
)
from spine_rt.pipelines.spine_mr.pipeline import SpineMrPipeline
from spine_rt.pipelines.stage_runners import StageRunners
from spine_rt.pipelines.xray.pipeline import XrayPipeline

#: the stages of each task's packages, in running order
TASK_STAGES: dict[str, tuple[str, ...]] = {"spine_mr": ("stage1", "stage2"), "xray": ("xray",)}
#: X-ray: one picture per network call
XRAY_BATCH_SIZE = 1

__all__ = ["TASK_STAGES", "XRAY_BATCH_SIZE", "load_pipeline", "pipeline_from_modules"]


def load_pipeline(
    package: str | os.PathLike | ModelPackage | None = None,
    backend: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    schedule: str | None = None,
    roi: bool | None = None,
    roi_margin_mm: float | None = None,
    tta: bool | None = None,
    precision: str | None = None,
    *,
    stage_one_batch_size: int | None = None,
    overlap: float | None = None,
    folds: Sequence[int] | None = None,
    verify: bool | None = None,
    pipelining: str | None = None,
    host_threads: bool | None = None,
    servers: Any = None,
    model_name_prefix: str | None = None,
    relabel_levels: bool | None = None,
    maps_dtype: str | None = None,
    bf16_gate: str | None = None,
) -> SpineMrPipeline | XrayPipeline:
    """Open a model package and make a pipeline of it (construct once, call many times).

    A spine MR package (manifest task ``spine_mr``) gives a :class:`SpineMrPipeline`;
    an X-ray package (task ``xray``) an :class:`~spine_rt.pipelines.xray.pipeline.XrayPipeline`
    (backend, device, precision, tta, folds and verify apply; the MR options must stay ``None``).
    Every option is ``None`` for its default; the defaults are filled in once,
    by :class:`~spine_rt.pipelines.options.PipelineOptions`.

    Args:
        package: the package folder (or an open :class:`ModelPackage`); ``None`` or
            ``"demo"``: the bundled demo package (phantoms only, for trying the software);
            ``"demo-xray"``: the bundled X-ray demo package (a tiny MBNet, phantoms only).
        backend: ``"auto"`` (default: TensorRT > onnxruntime CUDA > torch CUDA >
            OpenVINO CPU > onnxruntime CPU; the reason is in every report), ``"onnxruntime"``,
            ``"torch"`` (needs the package's weights), ``"tensorrt"`` (needs
            engines from ``spine-rt build-engine``), ``"openvino"`` (CPU) or ``"triton"``.
        device: ``None`` (best available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: stage-two windows per call (default 4; reference schedule 20).
        schedule: ``"fast"`` (default) or ``"reference"`` (the authors' schedule, SEEDS.md).
        roi: run stage two only near stage one's foreground (fast schedule; default on).
        roi_margin_mm: ROI dilation in mm (default 20).
        tta: mirroring test-time augmentation (MR: anterior-posterior axis, fast schedule; default off).
        precision: ``"fp32"`` / ``"fp16"`` / ``"bf16"`` (openvino on an AVX512_BF16 or AMX CPU,
            refused when it changes more than 0.5 % of labels, :mod:`spine_rt.pipelines.bf16_gate`);
            default fp32 on the CPU, fp16 on CUDA when available.
        stage_one_batch_size: stage-one slices per call (default 8).
        overlap: overlap of stage-two windows (fast schedule, default 0.5).
        folds: stage-two folds to use (default: all in the package); stage one
            uses the same folds, or its only fold.
        verify: check every file's sha256 against the manifest on opening (default on).
        pipelining: ``"auto"`` (default: the device fast schedule with stage one and
            stage two on two CUDA streams for torch/TensorRT runners on a CUDA
            device, the host schedule otherwise), ``"two-stream"``,
            ``"sequential"`` or ``"off"`` (see :mod:`spine_rt.pipelines.schedules.lanes`);
            the report says which ran and why.
        host_threads: host schedule: build stage two's inputs and blend its
            outputs on worker threads beside the backend (same result; one
            more batch in memory); default: on when more than one CPU core is
            usable (:mod:`spine_rt.pipelines.schedules.host_threads`).
        servers: backend ``"triton"``: ``"HOST:PORT[,HOST:PORT...]"`` (gRPC), a list of
            them, or a :class:`~spine_rt.runtime.triton_servers.TritonServerPool` (HTTP,
            timeouts); the network calls go there, the rest of the pipeline runs here.
        model_name_prefix: backend ``"triton"``: the prefix the repository was written with.
        relabel_levels: spine MR: rewrite level names that disagree with the
            count of levels from the sacrum; default: what the package records
            (``manifest.postprocessing``, e.g. packages of ``scripts/train_real.sh``), else off
            (with the retrained demo model it no longer wins on unseen phantoms,
            ``docs/measurements.md``); the disagreements are reported either way.
        maps_dtype: spine MR, fast schedule: ``"float16"`` or ``"float32"``, the dtype stage one's
            probability and feature maps are held in between the stages (float16 halves the
            largest buffers of a call and changes about 4e-6 of the labels, measured in
            ``benchmarks/RESULTS.md``, "float16 stage-one maps"); ``"auto"`` (default): float16
            when the networks run in fp16/bf16, float32 (exact) in fp32; the report says which ran.
        bf16_gate: ``"refuse"`` (default) or ``"report"``: what a failed BF16 gate does. ``"report"`` is
            for timing a precision the gate refuses (``spine-rt bench``): the pipeline runs, each runner
            carries the verdict as ``bf16_verdict``, and its labels are not for use.

    Raises:
        InputError: not a package, a package of another task, a bad option.
        EnvironmentProblem: the requested backend or device is not available here.
    """
    given = {"backend": backend, "device": device, "precision": precision, "folds": folds, "verify": verify,
             "tta": tta, "schedule": schedule, "roi": roi, "roi_margin_mm": roi_margin_mm, "overlap": overlap,
             "batch_size": batch_size, "stage_one_batch_size": stage_one_batch_size, "pipelining": pipelining,
             "host_threads": host_threads, "relabel_levels": relabel_levels, "maps_dtype": maps_dtype,
             "bf16_gate": bf16_gate}
    options = PipelineOptions(**given)
    from spine_rt.pipelines.default_model import resolve_package

    opened = package if isinstance(package, ModelPackage) else ModelPackage.open(resolve_package(package),
                                                                                 verify=options.verify)
    manifest = opened.manifest
    if manifest.task not in TASK_STAGES:
        raise InputError(f"{opened.root}: a {manifest.task} package; load_pipeline serves spine_mr and xray packages")
    if relabel_levels is None and "relabel_levels" in manifest.postprocessing:  # the package's validated default
        options = options.replace(relabel_levels=manifest.postprocessing["relabel_levels"])
    stage_names = TASK_STAGES[manifest.task]
    for name in stage_names:
        opened.stage(name)
    if manifest.task == "xray":
        if options.backend == "triton" or servers is not None:
            raise InputError(f"{opened.root}: backend 'triton' serves spine MR packages; X-ray packages run in process")
        mr_options = [name for name in MR_ONLY if given[name] is not None]
        if mr_options:
            raise InputError(f"{opened.root}: an X-ray package; {', '.join(mr_options)} apply to spine MR packages only")
        return _xray_pipeline(opened, options)

    preprocessing = MrPreprocessing.from_manifest(manifest.preprocessing)
    batches = options.stage_batches(opened.stage("stage2").patch_size)
    runners, choice = _runners(opened, stage_names, options, batches, servers, model_name_prefix)
    options = options.replace(backend=choice.name, device=choice.device, precision=runners[-1].precision)
    return SpineMrPipeline(runners[0], runners[1], options, preprocessing=preprocessing, labels=manifest.labels,
                           backend_reason=choice.reason)


def _xray_pipeline(package: ModelPackage, options: PipelineOptions) -> XrayPipeline:
    """The X-ray pipeline of an open ``xray`` package: the front end from the manifest first
    (a malformed value scaling fails before any runner is made), then the runners."""
    from spine_rt.pipelines.xray.preprocessing import XrayPreprocessing
    from spine_rt.pipelines.xray.values import value_scaling_from_manifest

    manifest = package.manifest
    preprocessing = XrayPreprocessing.from_manifest(manifest.preprocessing)
    scaling = value_scaling_from_manifest(manifest.preprocessing)
    runners, choice = _runners(package, TASK_STAGES["xray"], options, (XRAY_BATCH_SIZE,))
    options = options.replace(backend=choice.name, device=choice.device, precision=runners[0].precision)
    return XrayPipeline(runners[0], options, labels=manifest.labels, preprocessing=preprocessing,
                        value_scaling=scaling, model=manifest.model, backend_reason=choice.reason)


def _runners(package: ModelPackage, stage_names: tuple[str, ...], options: PipelineOptions,
             batches: tuple[int, ...], servers: Any = None, prefix: str | None = None) -> tuple[list[StageRunners], Any]:
    """Every stage's runners on the chosen backend, and the :class:`~spine_rt.runtime.BackendChoice`."""
    from spine_rt.runtime.backends import build_on_backend

    triton = _triton_target(options.backend, options.device, servers, prefix)
    if triton is not None:
        return _triton_stage_runners(package, options.folds, triton, options.precision), triton[2]

    def build(choice: Any) -> list[StageRunners]:
        precision = resolve_precision(options.precision, choice.name, choice.device, package, stage_names)
        return _each_stage(package, stage_names, options.folds,
                           lambda name, wanted, batch: create_stage_runners(package, name, choice.name, choice.device,
                                                                            precision, wanted, batch,
                                                                            bf16_gate=options.bf16_gate), batches)

    def unusable(choice: Any) -> str | None:
        return missing_torch_weights(package, stage_names) if choice.name == "torch" else None

    return build_on_backend(options.backend, options.device, build, unusable=unusable)


def _each_stage(package: ModelPackage, stage_names: tuple[str, ...], folds: Sequence[int] | None, make: Any,
                batches: Sequence[int | None]) -> list[StageRunners]:
    """``make(stage name, folds, batch)`` for every stage, closing those made when one fails.

    ``folds`` picks the last stage's folds; an earlier stage follows, unless it
    has a single fold serving them all.
    """
    created: list[StageRunners] = []
    try:
        for name, batch in zip(stage_names, batches):
            single = name != stage_names[-1] and len(package.stage(name).folds) == 1
            created.append(make(name, None if single else folds, batch))
    except BaseException:
        for stage in created:
            stage.close()
        raise
    return created


def _triton_target(backend: str, device: str | None, servers: Any, prefix: str | None) -> tuple | None:
    """``(pool, prefix, BackendChoice)`` for backend ``triton``; ``None`` for the others (which take no servers)."""
    from spine_rt.runtime.backends import BackendChoice

    if backend != "triton":
        if servers is not None or prefix is not None:
            raise InputError("servers and model_name_prefix apply to backend 'triton' only")
        return None
    from spine_rt.runtime.triton_servers import TritonServerPool

    if servers is None:
        raise InputError("backend 'triton' needs servers (--server HOST:PORT[,HOST:PORT...])")
    if device not in (None, "cpu"):
        raise InputError("backend 'triton' runs the networks on the servers' devices; leave device unset")
    pool = servers if isinstance(servers, TritonServerPool) else TritonServerPool(servers)
    reason = f"triton requested: {pool.protocol} to {', '.join(pool.urls)}; pre- and post-processing here"
    return pool, prefix or "", BackendChoice("triton", "cpu", reason)


def _triton_stage_runners(package: ModelPackage, folds: Sequence[int] | None, triton: tuple,
                          precision: str | None) -> list[StageRunners]:
    """The stages on Triton; activated here, so that a server that is not ready fails now (EnvironmentProblem).

    The precision is the one the repository was written with (``spine_rt_precision`` in each
    config); a ``precision`` asked for must match it.
    """
    import dataclasses

    def make(name: str, wanted: Sequence[int] | None, batch: int | None) -> StageRunners:
        stage = create_stage_runners(package, name, "triton", "cpu", "served", wanted, triton=triton[:2])
        try:
            served = set()
            for runner in stage.runners:
                runner.activate()
                served.add(runner.parameters.get("spine_rt_precision", "unknown"))
            if precision is not None and served != {precision}:
                raise InputError(f"precision {precision} asked for, but the servers' {name} models run "
                                 f"{', '.join(sorted(served))} (written by spine-rt triton-repo --precision)")
        except BaseException:
            stage.close()
            raise
        return dataclasses.replace(stage, precision=",".join(sorted(served)))

    return _each_stage(package, TASK_STAGES["spine_mr"], folds, make, (None, None))


def pipeline_from_modules(
    stage_one: Any,
    stage_two: Any,
    *,
    stage_one_patch: Sequence[int] = DEFAULT_STAGE_ONE_PATCH,
    device: str = "cpu",
    precision: str = "fp32",
    cuda_graph: bool = False,
    channels_last: bool = False,
    labels: Mapping[int, str] | None = None,
    preprocessing: MrPreprocessing | None = None,
    **options: Any,
) -> SpineMrPipeline:
    """A pipeline running torch networks directly (no package; see
    :func:`~spine_rt.pipelines.runner_factory.module_stage_runners`).

    Args:
        stage_one: a ``stage1_pair`` network, or one per fold (a sequence).
        stage_two: a ``stage2`` network, or one per fold; its ``config.patch_size``
            is the stage-two patch.
        stage_one_patch: stage one's window ``(X, Y)`` at half resolution.
        device / precision / cuda_graph / channels_last: for the :class:`~spine_rt.runtime.TorchRunner` s.
        labels: label id -> name (default: ``label N``).
        preprocessing: default: SEEDS' numbers.
        options: the fields of :class:`~spine_rt.pipelines.options.PipelineOptions`
            (schedule, roi, batch_size, ...).

    Raises:
        InputError: networks of the wrong kind, mismatched folds, an invalid option.
        EnvironmentProblem: torch is not installed.
    """
    chosen = PipelineOptions(**options)
    first, second = module_stage_runners(stage_one, stage_two, stage_one_patch=stage_one_patch, device=device,
                                         precision=precision, cuda_graph=cuda_graph, channels_last=channels_last)
    chosen = chosen.replace(backend="torch", device=device, precision=precision)
    network = stage_two[0] if isinstance(stage_two, (list, tuple)) else stage_two
    names = dict(labels) if labels is not None else {k: f"label {k}" for k in range(int(network.config.num_classes))}
    reason = ("torch modules given directly" + (", CUDA graphs" if cuda_graph else "")
              + (", channels-last" if channels_last else ""))
    return SpineMrPipeline(first, second, chosen, preprocessing=preprocessing, labels=names, backend_reason=reason)
