"""Configuration overrides: replace single fields of a network's config dataclass.

Every network has a frozen dataclass configuration with a ``full`` and a
``tiny`` preset; :func:`apply_overrides` is how ``build(name, preset,
**overrides)`` changes single fields of the chosen preset.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from spine_rt.errors import InputError

ConfigT = TypeVar("ConfigT")


def apply_overrides(config: ConfigT, overrides: dict[str, Any]) -> ConfigT:
    """Return a copy of the dataclass ``config`` with ``overrides`` replacing fields.

    Sequences are stored as tuples so configurations stay hashable and
    comparable.

    Raises:
        InputError: an override names a field the configuration does not have
            (the message lists the valid fields).
    """
    field_names = [field.name for field in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(field_names))
    if unknown:
        raise InputError(
            f"unknown {type(config).__name__} field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(field_names)}"
        )
    normalised = {
        name: tuple(value) if isinstance(value, list) else value for name, value in overrides.items()
    }
    return dataclasses.replace(config, **normalised)


def select_preset(presets: dict[str, ConfigT], preset: str, network: str) -> ConfigT:
    """The configuration of ``preset`` from ``presets``.

    Raises:
        InputError: ``preset`` is not one of ``presets``.
    """
    if preset not in presets:
        raise InputError(
            f"unknown preset {preset!r} for {network}; valid presets: {', '.join(presets)}"
        )
    return presets[preset]
