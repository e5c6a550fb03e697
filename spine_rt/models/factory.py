"""One factory for every network: ``build(name, preset, **overrides)``.

The registry maps a model name to ``"module:function"``; the module is
imported (and with it torch) only when that model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from spine_rt.dependencies import require
from spine_rt.errors import InputError

#: model name -> "module:builder"; each builder takes ``(preset, **overrides)``.
_REGISTRY: dict[str, str] = {
    "stage1": "spine_rt.models.stage_one:build_stage_one",
    "stage1_pair": "spine_rt.models.stage_one:build_stage_one_pair",
    "stage2": "spine_rt.models.stage_two:build_stage_two",
    "bilunet": "spine_rt.models.bilunet:build_bilunet",
    "mbnet": "spine_rt.models.mbnet:build_mbnet",
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)
PRESETS: tuple[str, ...] = ("full", "tiny")


def build(name: str, preset: str = "full", **overrides: Any):
    """Build the network ``name`` (one of :data:`MODEL_NAMES`) as an ``nn.Module``.

    ``preset="full"`` is the paper architecture, ``"tiny"`` keeps every block
    and connection with narrow widths for tests, the demo model and CPU
    benchmarks. ``overrides`` replace single configuration fields (for
    example ``num_classes=6``).

    Raises:
        InputError: unknown model name or preset.
        EnvironmentProblem: torch is not installed.
    """
    if name not in _REGISTRY:
        raise InputError(f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}")
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    require("torch", f"building the {name} network")
    module_name, function_name = _REGISTRY[name].split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(preset, **overrides)
