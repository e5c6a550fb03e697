"""Building an :class:`XrayPipeline` from an X-ray model package (manifest task ``xray``).

:func:`load_xray_pipeline` is what :func:`spine_rt.load_pipeline` calls for
such a package: backend choice with :func:`spine_rt.runtime.select_backend`
(the reason goes into every report; an automatic TensorRT choice without an
engine for this GPU falls back to the next backend and says so), precision,
one runner per fold of the ``xray`` stage, the preprocessing and MBNet's
value scaling from the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence

from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.model_package import ModelPackage
from spine_rt.pipelines.runner_factory import create_stage_runners, resolve_precision, without_weightless_torch
from spine_rt.pipelines.stage_runners import StageRunners
from spine_rt.pipelines.xray_pipeline import XrayPipeline
from spine_rt.pipelines.xray_preprocessing import XrayPreprocessing
from spine_rt.pipelines.xray_regressed_values import value_scaling_from_manifest

STAGE_NAME = "xray"
#: one picture per network call
BATCH_SIZE = 1


def load_xray_pipeline(
    package: ModelPackage,
    backend: str = "auto",
    device: str | None = None,
    precision: str | None = None,
    tta: bool = False,
    folds: Sequence[int] | None = None,
) -> XrayPipeline:
    """Make an :class:`XrayPipeline` of an open X-ray package (construct once, call many times).

    Args:
        package: the open package (task ``xray``).
        backend / device / precision: as for :func:`spine_rt.load_pipeline`.
        tta: also run the left-right mirrored picture and average.
        folds: which folds of the ``xray`` stage (default: all).

    Raises:
        InputError: not an X-ray package, a bad option, a malformed value scaling.
        EnvironmentProblem: the requested backend or device is not available here.
    """
    from spine_rt.runtime import available_backends, select_backend

    manifest = package.manifest
    if manifest.task != "xray":
        raise InputError(f"{package.root}: a {manifest.task} package; load_xray_pipeline serves xray packages")
    package.stage(STAGE_NAME)
    preprocessing = XrayPreprocessing.from_manifest(manifest.preprocessing)
    scaling = value_scaling_from_manifest(manifest.preprocessing)

    choice = select_backend(backend, device)
    reason = choice.reason
    if backend == "auto":
        choice, reason = without_weightless_torch(choice, reason, device, package, (STAGE_NAME,))
    try:
        runners = _runners(package, choice.name, choice.device, precision, folds)
    except EnvironmentProblem as problem:
        if backend != "auto" or choice.name != "tensorrt":
            raise
        fallback = next((c for c in available_backends(device) if c.name != "tensorrt"), None)
        if fallback is None:
            raise
        reason = f"{reason}; tensorrt: {str(problem).splitlines()[0]} → {fallback.name} on {fallback.device}"
        choice, reason = without_weightless_torch(fallback, reason, device, package, (STAGE_NAME,))
        runners = _runners(package, choice.name, choice.device, precision, folds)
    return XrayPipeline(runners, labels=manifest.labels, preprocessing=preprocessing, value_scaling=scaling,
                        tta=tta, model=manifest.model, backend_reason=reason)


def _runners(package: ModelPackage, backend: str, device: str, precision: str | None,
             folds: Sequence[int] | None) -> StageRunners:
    chosen = resolve_precision(precision, backend, device, package, (STAGE_NAME,))
    return create_stage_runners(package, STAGE_NAME, backend, device, chosen, folds, BATCH_SIZE)
