"""Rebuild a package stage as a torch module from its weights (the torch backend; no ONNX needed).

The manifest records each stage's network name, preset and full
configuration; the weights file is the state dict. ``build(network, preset,
**config)`` + ``load_checkpoint`` gives back the exported network.
"""

from __future__ import annotations

from torch import nn

from spine_rt.errors import InputError
from spine_rt.model_package import ModelPackage
from spine_rt.models import build
from spine_rt.models.checkpoint import load_checkpoint
from spine_rt.runtime.tensor_spec import TensorSpec
from spine_rt.runtime.torch_runner import TorchRunner


def build_stage_module(package: ModelPackage, stage: str, fold: int = 0) -> nn.Module:
    """The torch network of ``stage`` and ``fold`` with the package's weights, in eval mode (CPU, FP32).

    Raises:
        InputError: unknown stage, no weights for ``fold``, or weights that do
            not fit the recorded configuration.
    """
    entry = package.stage(stage)
    weights = [w for w in entry.weights if w.fold == fold]
    if not weights:
        have = ", ".join(str(w.fold) for w in entry.weights) or "none"
        raise InputError(f"{package.root}: stage {stage} has no weights for fold {fold} (folds with weights: {have})")
    module = build(entry.network, entry.preset, **entry.config)
    load_checkpoint(module, package.path(weights[0].path))
    return module.eval()


def stage_torch_runner(package: ModelPackage, stage: str, fold: int = 0, device: str = "cpu",
                       precision: str = "fp32") -> TorchRunner:
    """A :class:`TorchRunner` for ``stage``/``fold`` with the manifest's input and output names.

    Raises:
        InputError: see :func:`build_stage_module`.
        EnvironmentProblem: ``device`` is a CUDA device torch cannot use.
    """
    entry = package.stage(stage)
    specs = [TensorSpec(tensor.name, tensor.shape, tensor.dtype) for tensor in entry.inputs]
    return TorchRunner(build_stage_module(package, stage, fold), specs, [t.name for t in entry.outputs],
                       device=device, precision=precision, name=f"{stage} fold{fold} torch")
