"""Stage runners and pipelines straight from torch networks, with TorchRunner's speed options.

:func:`spine_rt.pipelines.pipeline_from_modules` makes plain TorchRunners;
benchmarks on a GPU also need channels-last memory and CUDA graphs
(``TorchRunner(cuda_graph=True, channels_last=True)``), and the baselines
need eager FP32 runners of the same networks. Each runner moves its module
to its device and precision **in place** on activation: give every
configuration its own copy of the networks (``copy.deepcopy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spine_rt.pipelines import SpineMrPipeline, StageRunners

#: stage one's static window (X, Y) at half resolution (SEEDS: training crops 256 x 512)
STAGE_ONE_PATCH = (512, 256)  # (S->I, A->P): long side along the spine


def module_stage_runners(
    stage_one: Any,
    stage_two: Any,
    *,
    stage_one_patch: Sequence[int] = STAGE_ONE_PATCH,
    device: str = "cpu",
    precision: str = "fp32",
    cuda_graph: bool = False,
    channels_last: bool = False,
) -> tuple[StageRunners, StageRunners]:
    """One :class:`~spine_rt.runtime.TorchRunner` per stage for a ``stage1_pair`` and a ``stage2`` network.

    Args:
        stage_one / stage_two: the networks (moved in place when the runners activate).
        stage_one_patch: stage one's window ``(X, Y)`` at half resolution.
        device / precision / cuda_graph / channels_last: TorchRunner's options.

    Raises:
        InputError: an invalid option (e.g. ``cuda_graph`` on the CPU).
        EnvironmentProblem: torch is missing or the device is not visible.
    """
    from spine_rt.runtime import TensorSpec, TorchRunner

    patch_two = tuple(int(p) for p in stage_two.config.patch_size)
    patch_one = tuple(int(p) for p in stage_one_patch)
    classes = int(stage_two.config.num_classes)
    feature_channels = int(stage_two.config.stage_one_feature_channels)
    feature_grid = (patch_two[0] // 4, patch_two[1] // 4, patch_two[2])
    options = {"device": device, "precision": precision, "cuda_graph": cuda_graph, "channels_last": channels_last}
    first = StageRunners(
        name="stage1",
        runners=(TorchRunner(stage_one, [TensorSpec("slices", (None, 3, *patch_one), "float32")],
                             ["probabilities", "features"], name="stage1/fold0", **options),),
        folds=(0,),
        input_names=("slices",),
        output_names=("probabilities", "features"),
        patch_size=patch_one,
        backend="torch", device=device, precision=precision, sources=("module",),
    )
    second = StageRunners(
        name="stage2",
        runners=(TorchRunner(stage_two, [TensorSpec("image", (None, 1 + classes, *patch_two), "float32"),
                                         TensorSpec("stage_one_features", (None, feature_channels, *feature_grid),
                                                    "float32")],
                             ["logits"], name="stage2/fold0", **options),),
        folds=(0,),
        input_names=("image", "stage_one_features"),
        output_names=("logits",),
        patch_size=patch_two,
        backend="torch", device=device, precision=precision, sources=("module",),
    )
    return first, second


def module_pipeline(stage_one: Any, stage_two: Any, *, schedule: str = "fast", device: str = "cpu",
                    precision: str = "fp32", cuda_graph: bool = False, channels_last: bool = False,
                    labels: Mapping[int, str] | None = None, **options: Any) -> SpineMrPipeline:
    """A :class:`~spine_rt.pipelines.SpineMrPipeline` on two torch networks (see :func:`module_stage_runners`).

    ``options`` are :class:`SpineMrPipeline`'s keyword options (``roi``, ``batch_size``, ...).
    """
    first, second = module_stage_runners(stage_one, stage_two, device=device, precision=precision,
                                         cuda_graph=cuda_graph, channels_last=channels_last)
    classes = int(stage_two.config.num_classes)
    names = dict(labels) if labels is not None else {k: f"label {k}" for k in range(classes)}
    reason = (f"torch modules, {precision}" + (", CUDA graphs" if cuda_graph else "")
              + (", channels-last" if channels_last else ""))
    return SpineMrPipeline(first, second, labels=names, schedule=schedule, backend_reason=reason, **options)
