"""``channel_softmax``: a softmax over the class axis that exported graphs run fast.

``torch.softmax(x, dim=1)`` exports to one ONNX ``Softmax`` over axis 1.
onnxruntime's CPU kernel computes a softmax over a non-last axis by
transposing the tensor to put that axis last and back, which on stage one's
``(8, 20, 512, 256)`` output took 0.2 s, 75 % of the whole stage-one graph
(``benchmarks/RESULTS.md``). Written out as ``exp(x - max) / sum(exp(x - max))``
it exports to ``ReduceMax``, ``Sub``, ``Exp``, ``ReduceSum`` and ``Div``,
element-wise kernels and reductions that run about 8x faster there; the
values equal ``torch.softmax``'s to float rounding (a few 1e-7).
"""

from __future__ import annotations

import torch


def channel_softmax(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax of ``logits`` over ``dim`` (the class axis of ``(N, C, *spatial)``), numerically stable."""
    exponentials = torch.exp(logits - logits.amax(dim=dim, keepdim=True))
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
