"""MBNet's 18 lumbar inspection values: their order and their min-max scaling.

:data:`INSPECTION_VALUE_NAMES` is the order of MBNet's regression outputs
(SEEDS.md), of training targets and of reports; the values themselves are
defined in :mod:`spine_rt.anatomy.lumbar_parameters` (degrees; LDI in %).

:class:`MinMaxScaling` (SEEDS: targets min-max scaled) is fitted on the
training X-rays: ``scaled = (value - minimum) / (maximum - minimum)`` per
value, so the training targets lie in [0, 1] like the network's sigmoid
output; a value constant over the training set gets a range of 1. The
scaling belongs to the trained model: it is stored in the checkpoint and
the package manifest (``value_scaling``) and :meth:`MinMaxScaling.unscale`
turns predictions back into degrees (LDI: %).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError

#: The 18 regressed values, in MBNet's output order: angles in degrees except LDI (%).
INSPECTION_VALUE_NAMES: tuple[str, ...] = (
    "PI", "LL", "PI-LL", "L4S1", "LDI", "RLL", "SS", "PT",
    "L1", "L2", "L3", "L4", "L5", "L1L2", "L2L3", "L3L4", "L4L5", "L5S1",
)  # fmt: skip


@dataclass(frozen=True)
class MinMaxScaling:
    """Per-value ``minimum`` and ``maximum`` (same order as ``names``)."""

    names: tuple[str, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]

    @classmethod
    def fit(cls, values: np.ndarray, names: Sequence[str]) -> MinMaxScaling:
        """Fit to ``values`` ``(N, V)`` (one row per training image).

        Raises:
            InputError: no rows, or a column count other than ``len(names)``.
        """
        array = np.asarray(values, np.float64)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != len(names):
            raise InputError(f"value scaling needs (N >= 1, {len(names)}) values, got shape {array.shape}")
        return cls(tuple(names), tuple(float(v) for v in array.min(axis=0)), tuple(float(v) for v in array.max(axis=0)))

    @property
    def range(self) -> np.ndarray:
        span = np.asarray(self.maximum) - np.asarray(self.minimum)
        return np.where(span > 0, span, 1.0)

    def scale(self, values: np.ndarray) -> np.ndarray:
        """``(..., V)`` values -> scaled float32."""
        return ((np.asarray(values, np.float64) - np.asarray(self.minimum)) / self.range).astype(np.float32)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """``(..., V)`` scaled values -> values (float64)."""
        return np.asarray(scaled, np.float64) * self.range + np.asarray(self.minimum)

    def as_dict(self) -> dict:
        return {"method": "min-max", "names": list(self.names), "minimum": list(self.minimum),
                "maximum": list(self.maximum)}

    @classmethod
    def from_dict(cls, stored: Mapping) -> MinMaxScaling:
        """Read :meth:`as_dict` output back.

        Raises:
            InputError: a malformed entry.
        """
        try:
            scaling = cls(tuple(stored["names"]), tuple(float(v) for v in stored["minimum"]),
                          tuple(float(v) for v in stored["maximum"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed value scaling in the checkpoint ({exc})") from None
        if not len(scaling.names) == len(scaling.minimum) == len(scaling.maximum):
            raise InputError("malformed value scaling in the checkpoint (lengths differ)")
        return scaling
