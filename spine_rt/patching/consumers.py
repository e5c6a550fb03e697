"""Slab consumers: where finished rows of a stitched output go.

A consumer is any callable ``consumer(rows, block)``: ``rows`` is a slice of
the first spatial axis of the output, ``block`` its normalised values
``(N, C, len(rows), *rest)`` as a numpy array or torch tensor (a view that is
reused after the call returns). Two ready-made ones:

* :class:`ArrayWriter` - copy into a caller-given array (any dtype, e.g. float16).
* :class:`ArgmaxWriter` - argmax over channels into a label volume ``(N, *spatial)``,
  e.g. uint8, so a 20-channel probability volume is never held whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ArrayWriter:
    """Writes finished rows into ``out`` ``(N, C, *spatial)`` (numpy array or torch tensor, any dtype)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def __call__(self, rows: slice, block: Any) -> None:
        self.out[:, :, rows] = _like(self.out, block)


class ArgmaxWriter:
    """Writes the channel argmax of finished rows into ``labels`` ``(N, *spatial)`` (e.g. uint8)."""

    def __init__(self, labels: Any) -> None:
        self.labels = labels

    def __call__(self, rows: slice, block: Any) -> None:
        self.labels[:, rows] = _like(self.labels, block.argmax(1))


def _like(target: Any, values: Any) -> Any:
    """``values`` as the kind of array ``target`` is (numpy on the host, or torch on ``target``'s device)."""
    if isinstance(target, np.ndarray):
        return values.detach().cpu().numpy() if hasattr(values, "detach") else values
    if isinstance(values, np.ndarray):
        return target.new_tensor(values)
    return values.to(target.device)
