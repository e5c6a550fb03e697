"""Test helpers: state dicts in the SSHSNet authors' checkpoint layout (see ../shared/data/authors_checkpoints).

* :func:`keys_json_entries` - every ``(key, shape, dtype)`` the authors' scripts save, per stage
  (skips the test where ``keys.json`` is absent);
* :func:`random_authors_state` - seeded random values for those keys (batch-norm statistics in a sane range);
* :func:`as_authors_checkpoint` - a spine-rt network's weights renamed to the authors' keys, as their
  scripts save them (``module.`` prefix from ``nn.DataParallel``), for fast tests on tiny networks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(os.environ.get("SPINE_RT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KEYS_JSON = SHARED_DATA / "authors_checkpoints" / "keys.json"


def keys_json_entries(stage: str) -> list[tuple[str, tuple[int, ...], str]]:
    """``[(key with module., shape, dtype)]`` of ``stage`` (``stage1``/``stage2``) from keys.json."""
    if not KEYS_JSON.is_file():
        pytest.skip(f"authors' key list not found at {KEYS_JSON}")
    return [(name, tuple(shape), dtype) for name, shape, dtype in json.loads(KEYS_JSON.read_text())[stage]]


def random_authors_state(entries, seed: int) -> dict[str, torch.Tensor]:
    """Seeded values for every entry: convolutions ~ N(0, 1/fan_in), batch-norm weight/bias/mean/variance
    randomised around the identity, attention gammas 0.5, integer counters 1."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape, dtype in entries:
        if dtype == "int64":
            state[name] = torch.tensor(1, dtype=torch.int64)
        elif name.endswith("gamma"):
            state[name] = torch.full(shape, 0.5)
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(shape, generator=generator)
        elif name.endswith(("running_mean", ".bias")):
            state[name] = 0.1 * torch.randn(shape, generator=generator)
        elif len(shape) == 1:  # batch-norm weight
            state[name] = 0.5 + torch.rand(shape, generator=generator)
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            state[name] = torch.randn(shape, generator=generator) / fan_in ** 0.5
    return state


def as_authors_checkpoint(network: torch.nn.Module, layout, prefix: str = "module.") -> dict[str, torch.Tensor]:
    """``network``'s weights with the authors' key names (every key covered), prefixed like their files."""
    renamed, uncovered = layout.rename_to_foreign(network.state_dict())
    assert not uncovered, uncovered
    return {prefix + name: tensor.clone() for name, tensor in renamed.items()}
