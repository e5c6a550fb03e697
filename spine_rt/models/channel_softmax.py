"""``channel_softmax``: a softmax over the class axis that exported graphs run fast.

``torch.softmax(x, dim=1)`` exports to one ONNX ``Softmax`` over axis 1.
onnxruntime's CPU kernel computes a softmax over a non-last axis by
transposing the tensor to put that axis last and back, which on stage one's
``(8, 20, 512, 256)`` output took 0.2 s, 75 % of the whole stage-one graph
(``benchmarks/RESULTS.md``). While a graph is being exported (``torch.onnx``
or ``torch.export``) the softmax is therefore written out as ``exp(x - max) /
sum(exp(x - max))``, which exports to ``ReduceMax``, ``Sub``, ``Exp``,
``ReduceSum`` and ``Div``: element-wise kernels and reductions that run about
8x faster there, with the same values to float rounding (a few 1e-7). In
eager PyTorch (training, the torch backend, the baselines) it is
``torch.softmax`` itself, whose fused kernel is the faster one there.
"""

from __future__ import annotations

import torch

from spine_rt.models.export_tracing import exporting


def channel_softmax(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax of ``logits`` over ``dim`` (the class axis of ``(N, C, *spatial)``), numerically stable."""
    if not exporting():
        return torch.softmax(logits, dim=dim)
    exponentials = torch.exp(logits - logits.amax(dim=dim, keepdim=True))
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
