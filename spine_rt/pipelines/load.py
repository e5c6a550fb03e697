"""Building a :class:`SpineMrPipeline`: from a model package, or from torch modules.

:func:`load_pipeline` is ``spine_rt.load_pipeline``: it opens the package,
chooses the backend with :func:`spine_rt.runtime.select_backend` (recording
why), resolves the precision and creates one runner per stage per fold.
:func:`pipeline_from_modules` wraps torch networks directly (tests,
benchmarks against other schedules on the same modules).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.schedules.lanes import check_pipelining
from spine_rt.pipelines.preprocessing import MrPreprocessing
from spine_rt.pipelines.runner_factory import create_stage_runners, resolve_precision, without_weightless_torch
from spine_rt.pipelines.spine_mr_pipeline import SpineMrPipeline, batch_sizes
from spine_rt.pipelines.stage_runners import StageRunners
from spine_rt.pipelines.xray_loading import load_xray_pipeline
from spine_rt.pipelines.xray_pipeline import XrayPipeline

STAGE_NAMES = ("stage1", "stage2")
#: stage one's patch when a module is given without one (SEEDS: training crops 256 x 512),
#: as (S->I, A->P) pixels: the long side along the spine, as the training recipe crops
DEFAULT_STAGE_ONE_PATCH = (512, 256)


def load_pipeline(
    package: str | os.PathLike | ModelPackage | None = None,
    backend: str = "auto",
    device: str | None = None,
    batch_size: int | None = None,
    schedule: str = "fast",
    roi: bool = True,
    roi_margin_mm: float | None = None,
    tta: bool = False,
    precision: str | None = None,
    *,
    stage_one_batch_size: int | None = None,
    overlap: float | None = None,
    folds: Sequence[int] | None = None,
    verify: bool = True,
    pipelining: str = "auto",
    host_threads: bool | None = None,
    servers: Any = None,
    model_name_prefix: str | None = None,
    relabel_levels: bool | None = None,
) -> SpineMrPipeline | XrayPipeline:
    """Open a model package and make a pipeline of it (construct once, call many times).

    A spine MR package (manifest task ``spine_mr``) gives a :class:`SpineMrPipeline`;
    an X-ray package (task ``xray``) an :class:`~spine_rt.pipelines.xray_pipeline.XrayPipeline`
    (backend, device, precision, tta, folds and verify apply; the MR options must keep their defaults).

    Args:
        package: the package folder (or an open :class:`ModelPackage`); ``None`` or
            ``"demo"``: the bundled demo package (phantoms only, for trying the software);
            ``"demo-xray"``: the bundled X-ray demo package (a tiny MBNet, phantoms only).
        backend: ``"auto"`` (TensorRT > onnxruntime CUDA > torch CUDA >
            OpenVINO CPU > onnxruntime CPU; the reason is in every report), ``"onnxruntime"``,
            ``"torch"`` (needs the package's weights), ``"tensorrt"`` (needs
            engines from ``spine-rt build-engine``) or ``"openvino"`` (CPU).
        device: ``None`` (best available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: stage-two windows per call (default 4; reference schedule 20).
        schedule: ``"fast"`` or ``"reference"`` (the authors' schedule, SEEDS.md).
        roi: run stage two only near stage one's foreground (fast schedule).
        roi_margin_mm: ROI dilation in mm (default 20).
        tta: mirroring test-time augmentation (anterior-posterior axis; fast schedule).
        precision: ``"fp32"`` / ``"fp16"`` / ``"bf16"`` (openvino on an AVX512_BF16 or AMX CPU,
            refused when it changes more than 0.5 % of labels, :mod:`spine_rt.pipelines.bf16_gate`);
            default fp32 on the CPU, fp16 on CUDA when available.
        stage_one_batch_size: stage-one slices per call (default 8).
        overlap: overlap of stage-two windows (fast schedule, default 0.5).
        folds: stage-two folds to use (default: all in the package); stage one
            uses the same folds, or its only fold.
        verify: check every file's sha256 against the manifest on opening.
        pipelining: ``"auto"`` (the device fast schedule with stage one and
            stage two on two CUDA streams for torch/TensorRT runners on a CUDA
            device, the host schedule otherwise), ``"two-stream"``,
            ``"sequential"`` or ``"off"`` (see :mod:`spine_rt.pipelines.schedules.lanes`);
            the report says which ran and why.
        host_threads: host schedule: build stage two's inputs and blend its
            outputs on worker threads beside the backend (same result; one
            more batch in memory); ``None`` (default): on when more than one
            CPU core is usable (:mod:`spine_rt.pipelines.host_threads`).
        servers: backend ``"triton"``: ``"HOST:PORT[,HOST:PORT...]"`` (gRPC), a list of
            them, or a :class:`~spine_rt.runtime.triton_servers.TritonServerPool` (HTTP,
            timeouts); the network calls go there, the rest of the pipeline runs here.
        model_name_prefix: backend ``"triton"``: the prefix the repository was written with.
        relabel_levels: spine MR: rewrite level names that disagree with the
            count of levels from the sacrum; ``None`` (default): on (it won on
            the phantom measurement, ``docs/measurements.md``); off, the
            disagreements are still reported.

    Raises:
        InputError: not a package, not a spine MR package, a bad option.
        EnvironmentProblem: the requested backend or device is not available here.
    """
    from spine_rt.runtime import available_backends, select_backend

    check_pipelining(pipelining)
    from spine_rt.pipelines.default_model import resolve_package

    opened = package if isinstance(package, ModelPackage) else ModelPackage.open(resolve_package(package),
                                                                                 verify=verify)
    manifest = opened.manifest
    if manifest.task == "xray" and (backend == "triton" or servers is not None):
        raise InputError(f"{opened.root}: backend 'triton' serves spine MR packages; X-ray packages run in process")
    if manifest.task == "xray":
        mr_options = {"schedule": schedule != "fast", "roi": not roi, "roi_margin_mm": roi_margin_mm is not None,
                      "overlap": overlap is not None, "batch_size": batch_size is not None,
                      "stage_one_batch_size": stage_one_batch_size is not None,
                      "pipelining": pipelining != "auto", "host_threads": host_threads is not None,
                      "relabel_levels": relabel_levels is not None}
        return _xray_pipeline(opened, backend, device, precision, tta, folds,
                              [name for name, given in mr_options.items() if given])
    if manifest.task != "spine_mr":
        raise InputError(f"{opened.root}: a {manifest.task} package; load_pipeline serves spine_mr and xray packages")
    for name in STAGE_NAMES:
        opened.stage(name)
    stage_two_patch = opened.stage("stage2").patch_size
    batch_one, batch_two = batch_sizes(schedule, batch_size, stage_one_batch_size, stage_two_patch)

    triton = _triton_target(backend, device, servers, model_name_prefix)
    choice = select_backend(backend, device) if triton is None else triton[2]
    reason = choice.reason
    if backend == "auto":
        choice, reason = without_weightless_torch(choice, reason, device, opened, STAGE_NAMES)
    try:
        runners = _stage_runners(opened, choice.name, choice.device, precision, folds, (batch_one, batch_two),
                                 triton[:2] if triton else None)
    except EnvironmentProblem as problem:
        if backend != "auto" or choice.name != "tensorrt":
            raise
        # auto picked TensorRT but this package has no engine for this GPU: take the next
        # backend in the order, and say so in the report (never silently)
        fallback = next((c for c in available_backends(device) if c.name != "tensorrt"), None)
        if fallback is None:
            raise
        reason = f"{reason}; tensorrt: {str(problem).splitlines()[0]} → {fallback.name} on {fallback.device}"
        choice, reason = without_weightless_torch(fallback, reason, device, opened, STAGE_NAMES)
        runners = _stage_runners(opened, choice.name, choice.device, precision, folds, (batch_one, batch_two))

    return SpineMrPipeline(
        runners[0],
        runners[1],
        preprocessing=MrPreprocessing.from_manifest(manifest.preprocessing),
        labels=manifest.labels,
        schedule=schedule,
        roi=roi,
        roi_margin_mm=roi_margin_mm,
        tta=tta,
        batch_size=batch_size,
        stage_one_batch_size=stage_one_batch_size,
        overlap=overlap,
        backend_reason=reason,
        pipelining=pipelining,
        host_threads=host_threads,
        relabel_levels=relabel_levels,
    )


def _xray_pipeline(package: ModelPackage, backend: str, device: str | None, precision: str | None, tta: bool,
                   folds: Sequence[int] | None, mr_options: list[str]) -> XrayPipeline:
    if mr_options:
        raise InputError(f"{package.root}: an X-ray package; {', '.join(mr_options)} apply to spine MR packages only")
    return load_xray_pipeline(package, backend=backend, device=device, precision=precision, tta=tta, folds=folds)


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


def _stage_runners(package: ModelPackage, backend: str, device: str, precision: str | None,
                   folds: Sequence[int] | None, batches: tuple[int, int],
                   triton: tuple | None = None) -> tuple[StageRunners, StageRunners]:
    if triton is not None:
        return _triton_stage_runners(package, folds, triton, precision)
    chosen = resolve_precision(precision, backend, device, package, STAGE_NAMES)
    # ``folds`` picks stage-two folds; stage one follows, unless it has a single fold serving them all
    stage_one_folds = None if len(package.stage("stage1").folds) == 1 else folds
    created: list[StageRunners] = []
    try:
        for name, batch, wanted in zip(STAGE_NAMES, batches, (stage_one_folds, folds)):
            created.append(create_stage_runners(package, name, backend, device, chosen, wanted, batch))
    except BaseException:
        for stage in created:
            stage.close()
        raise
    return created[0], created[1]


def _triton_stage_runners(package: ModelPackage, folds: Sequence[int] | None, triton: tuple,
                          precision: str | None) -> tuple[StageRunners, StageRunners]:
    """The stages on Triton; activated here, so that a server that is not ready fails now (EnvironmentProblem).

    The precision is the one the repository was written with (``spine_rt_precision`` in each
    config); a ``precision`` asked for must match it.
    """
    import dataclasses

    stage_one_folds = None if len(package.stage("stage1").folds) == 1 else folds
    created: list[StageRunners] = []
    try:
        for name, wanted in zip(STAGE_NAMES, (stage_one_folds, folds)):
            created.append(create_stage_runners(package, name, "triton", "cpu", "served", wanted, triton=triton))
            served = set()
            for runner in created[-1].runners:
                runner.activate()
                served.add(runner.parameters.get("spine_rt_precision", "unknown"))
            if precision is not None and served != {precision}:
                raise InputError(f"precision {precision} asked for, but the servers' {name} models run "
                                 f"{', '.join(sorted(served))} (written by spine-rt triton-repo --precision)")
            created[-1] = dataclasses.replace(created[-1], precision=",".join(sorted(served)))
    except BaseException:
        for stage in created:
            stage.close()
        raise
    return created[0], created[1]


def pipeline_from_modules(
    stage_one: Any,
    stage_two: Any,
    *,
    stage_one_patch: Sequence[int] = DEFAULT_STAGE_ONE_PATCH,
    device: str = "cpu",
    precision: str = "fp32",
    labels: Mapping[int, str] | None = None,
    preprocessing: MrPreprocessing | None = None,
    **options: Any,
) -> SpineMrPipeline:
    """A pipeline running torch networks directly (no package).

    Args:
        stage_one: a ``stage1_pair`` network, or one per fold (a sequence).
        stage_two: a ``stage2`` network, or one per fold; its ``config.patch_size``
            is the stage-two patch.
        stage_one_patch: stage one's window ``(X, Y)`` at half resolution.
        device / precision: for the :class:`~spine_rt.runtime.TorchRunner` s.
        labels: label id -> name (default: ``label N``).
        preprocessing: default: SEEDS' numbers.
        options: the keyword options of :class:`SpineMrPipeline` (schedule, roi, ...).

    Raises:
        InputError: networks of the wrong kind or mismatched folds.
        EnvironmentProblem: torch is not installed.
    """
    from spine_rt.runtime import TensorSpec, TorchRunner

    ones = list(stage_one) if isinstance(stage_one, (list, tuple)) else [stage_one]
    twos = list(stage_two) if isinstance(stage_two, (list, tuple)) else [stage_two]
    patch_two = tuple(int(p) for p in twos[0].config.patch_size)
    patch_one = tuple(int(p) for p in stage_one_patch)
    classes = int(twos[0].config.num_classes)
    feature_channels = int(twos[0].config.stage_one_feature_channels)
    feature_grid = (patch_two[0] // 4, patch_two[1] // 4, patch_two[2])
    stage_one_specs = [TensorSpec("slices", (None, 3, *patch_one), "float32")]
    stage_two_specs = [TensorSpec("image", (None, 1 + classes, *patch_two), "float32"),
                       TensorSpec("stage_one_features", (None, feature_channels, *feature_grid), "float32")]
    first = StageRunners(
        name="stage1",
        runners=tuple(TorchRunner(m, stage_one_specs, ["probabilities", "features"], device=device,
                                  precision=precision, name=f"stage1/fold{k}") for k, m in enumerate(ones)),
        folds=tuple(range(len(ones))),
        input_names=("slices",),
        output_names=("probabilities", "features"),
        patch_size=patch_one,
        backend="torch", device=device, precision=precision, sources=("module",) * len(ones),
    )
    second = StageRunners(
        name="stage2",
        runners=tuple(TorchRunner(m, stage_two_specs, ["logits"], device=device, precision=precision,
                                  name=f"stage2/fold{k}") for k, m in enumerate(twos)),
        folds=tuple(range(len(twos))),
        input_names=("image", "stage_one_features"),
        output_names=("logits",),
        patch_size=patch_two,
        backend="torch", device=device, precision=precision, sources=("module",) * len(twos),
    )
    names = dict(labels) if labels is not None else {k: f"label {k}" for k in range(classes)}
    return SpineMrPipeline(first, second, preprocessing=preprocessing, labels=names,
                           backend_reason="torch modules given directly", **options)
