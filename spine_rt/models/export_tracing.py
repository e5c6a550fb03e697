"""``exporting()``: whether a network is being traced for export rather than run eagerly.

Some operations have two equivalent forms: the one eager PyTorch runs fastest
and the one exported graphs run fastest (see
:mod:`~spine_rt.models.channel_softmax`, :mod:`~spine_rt.models.linear_upsampling`).
"""

from __future__ import annotations

import torch


def exporting() -> bool:
    """True while ``torch.onnx.export`` (either exporter) or ``torch.export`` traces the module."""
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())
