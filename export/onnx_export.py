"""torch ``nn.Module`` -> FP32 ONNX ``ModelProto`` (torch.export-based exporter, opset 18).

The batch axis of every input and output is dynamic (named ``batch``); the
spatial axes are fixed to the example inputs' sizes (the patch). The module
is exported in eval mode, so dropout is gone and batch norm uses its running
statistics (the exporter's optimizer folds it into the preceding
convolution; :mod:`spine_rt.export.graph_cleanup` folds any that remain).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence

import onnx
import torch

from spine_rt.errors import InputError

#: ONNX opset of every exported graph (TensorRT 10/11 and onnxruntime >= 1.17 read it).
OPSET = 18
#: Name of the dynamic batch axis in the graphs.
BATCH_AXIS_NAME = "batch"
#: Largest batch the exporter's shape constraints allow (engines pick their own profile).
MAX_EXPORT_BATCH = 1024

#: torch's exporter logs/warns about things spine-rt cannot change (torchvision ops, pytree deprecations).
_NOISY_LOGGERS = ("torch.onnx._internal.exporter._registration", "torch.onnx._internal.exporter")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings and info logs (errors still raise)."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(
    module: torch.nn.Module,
    example_inputs: Sequence[torch.Tensor],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> onnx.ModelProto:
    """Export ``module`` (put in eval mode) to an FP32 ONNX model in memory.

    Args:
        module: the network; ``forward`` takes ``example_inputs`` positionally.
        example_inputs: one tensor per input, batch >= 2 (so the batch axis
            is not specialised to 1), spatial sizes = the patch.
        input_names / output_names: graph IO names, in ``forward`` order.

    Returns:
        The ONNX model (weights inside, no external data).

    Raises:
        InputError: fewer example tensors than input names, or a batch of 1.
    """
    if len(example_inputs) != len(input_names):
        raise InputError(f"export needs {len(input_names)} example inputs ({', '.join(input_names)}), "
                         f"got {len(example_inputs)}")
    if any(int(tensor.shape[0]) < 2 for tensor in example_inputs):
        raise InputError("export needs example inputs with a batch of at least 2 (a batch of 1 is specialised)")
    module.eval()
    batch = torch.export.Dim(BATCH_AXIS_NAME, min=1, max=MAX_EXPORT_BATCH)
    dynamic_shapes = tuple({0: batch} for _ in input_names)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module, tuple(example_inputs), None, dynamo=True, opset_version=OPSET,
            input_names=list(input_names), output_names=list(output_names),
            dynamic_shapes=dynamic_shapes, external_data=False, optimize=True, verbose=False,
        )
    return program.model_proto
