"""Checking a feed (``{input name: array}``) against a runner's input specs.

Values are numpy arrays or, for runners that take them, torch tensors. A
torch tensor is recognised through ``sys.modules``: if torch has not been
imported, no value can be a torch tensor, so this module never imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from spine_rt.errors import InputError
from spine_rt.runtime.tensor_spec import TensorSpec, format_dims


def is_torch_tensor(value: Any) -> bool:
    """True when ``value`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def value_dtype_name(value: np.ndarray | Any) -> str:
    """numpy's name for the dtype of an array or torch tensor (``"float32"``, ``"bool"``)."""
    if isinstance(value, np.ndarray):
        return value.dtype.name
    return str(value.dtype).removeprefix("torch.")


def describe_value(value: np.ndarray | Any) -> str:
    """``float64 (2, 21, 192, 192, 12)``; torch tensors add ``torch tensor on DEVICE``."""
    text = f"{value_dtype_name(value)} {format_dims(tuple(value.shape))}"
    if is_torch_tensor(value):
        text += f" (torch tensor on {value.device})"
    return text


def validate_feed(
    feed: Mapping[str, Any],
    specs: Sequence[TensorSpec],
    *,
    runner_label: str,
    accepts_torch_tensors: bool,
) -> None:
    """Raise :class:`InputError` with one line naming the first problem of ``feed``.

    Checks, in order: ``feed`` is a mapping; no input is missing; no name is
    unexpected; every value is a numpy array (or a torch tensor where
    ``accepts_torch_tensors``); dtype, rank and every static size match.

    Args:
        feed: input name -> array.
        specs: the runner's input specs.
        runner_label: how to name the runner in messages (``"OnnxRuntimeRunner 'stage2'"``).
        accepts_torch_tensors: whether the runner takes torch tensors.
    """
    if not isinstance(feed, Mapping):
        raise InputError(f"{runner_label}: the feed must be a dict of input name -> array, got {type(feed).__name__}")
    expected = {spec.name: spec for spec in specs}
    missing = [name for name in expected if name not in feed]
    if missing:
        listed = "; ".join(f"{name!r} {expected[name].describe()}" for name in missing)
        noun = "input" if len(missing) == 1 else "inputs"
        raise InputError(f"{runner_label}: missing {noun} {listed}")
    unexpected = [name for name in feed if name not in expected]
    if unexpected:
        valid = ", ".join(repr(name) for name in expected)
        noun = "input" if len(unexpected) == 1 else "inputs"
        raise InputError(
            f"{runner_label}: unexpected {noun} {', '.join(repr(n) for n in unexpected)}; the inputs are {valid}"
        )
    for name, spec in expected.items():
        value = feed[name]
        torch_tensor = is_torch_tensor(value)
        if not isinstance(value, np.ndarray) and not (torch_tensor and accepts_torch_tensors):
            takes = "a numpy array or a torch tensor" if accepts_torch_tensors else "a numpy array"
            got = "a torch tensor" if torch_tensor else type(value).__name__
            raise InputError(f"{runner_label}: input {name!r} must be {takes}, got {got}")
        reason = spec.mismatch(value_dtype_name(value), tuple(value.shape))
        if reason is not None:
            raise InputError(
                f"{runner_label}: input {name!r} expected {spec.describe()}, got {describe_value(value)} ({reason})"
            )
