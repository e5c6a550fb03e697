"""Measurements as plain data: per structure, name / value / unit / why missing.

Every measured quantity is a :class:`Measurement`; a value that cannot be
defined (structure absent or cut by the field of view, a neighbour missing,
a fit that failed) has ``value=None`` and a ``missing_reason``, never a
number. Units are UCUM codes (``mm``, ``mm3``, ``deg``, ``1`` for ratios,
``{grade}``), ready for a DICOM SR. :class:`SpineMeasurements` gathers them
for one label map and renders the report section (:meth:`~SpineMeasurements.as_dict`)
and flat rows (:meth:`~SpineMeasurements.rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: decimals kept in reports (values are computed in float64)
DECIMALS = 3


@dataclass(frozen=True)
class Measurement:
    """One quantity: ``name`` (e.g. ``"anterior_height"``), ``value`` in ``unit`` or None with ``missing_reason``."""

    name: str
    value: float | None
    unit: str
    missing_reason: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.missing_reason is None):
            raise ValueError(f"{self.name}: give either a value or a missing reason")

    @classmethod
    def missing(cls, name: str, unit: str, reason: str) -> Measurement:
        return cls(name, None, unit, reason)

    def as_dict(self) -> dict[str, Any]:
        if self.value is None:
            return {"value": None, "unit": self.unit, "missing": self.missing_reason}
        return {"value": round(float(self.value), DECIMALS), "unit": self.unit}


@dataclass(frozen=True)
class StructureMeasurements:
    """The measurements of one labelled structure.

    Attributes:
        label: label id; ``name``: structure name (``"L3"``, ``"L3/L4"``, ``"S"``);
        kind: ``"vertebra"``, ``"disc"``, ``"sacrum"`` or ``"other"``.
        notes: how values were taken where there is a choice (e.g. which landmarks).
    """

    label: int
    name: str
    kind: str
    measurements: tuple[Measurement, ...]
    notes: tuple[str, ...] = ()

    def get(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def value(self, name: str) -> float | None:
        found = self.get(name)
        return None if found is None else found.value

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"label": self.label, "name": self.name, "kind": self.kind,
                                 "values": {m.name: m.as_dict() for m in self.measurements}}
        if self.notes:
            entry["notes"] = list(self.notes)
        return entry


@dataclass(frozen=True)
class SpineMeasurements:
    """Every structure's measurements, the whole-spine ones (lordosis) and the definitions used."""

    structures: tuple[StructureMeasurements, ...]
    spine: tuple[Measurement, ...]
    definitions: dict[str, Any] = field(default_factory=dict)

    def structure(self, name: str) -> StructureMeasurements | None:
        return next((s for s in self.structures if s.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        """The report section (``report["measurements"]``)."""
        return {"structures": [s.as_dict() for s in self.structures],
                "spine": {m.name: m.as_dict() for m in self.spine},
                "definitions": self.definitions}

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per measurement: structure, label, kind, name, value, unit, missing_reason."""
        rows = []
        for structure in self.structures:
            rows.extend(_rows(structure.name, structure.label, structure.kind, structure.measurements))
        rows.extend(_rows("spine", None, "spine", self.spine))
        return rows


def _rows(structure: str, label: int | None, kind: str, measurements: Iterable[Measurement]) -> list[dict[str, Any]]:
    return [{"structure": structure, "label": label, "kind": kind, "name": m.name, "value": m.value,
             "unit": m.unit, "missing_reason": m.missing_reason} for m in measurements]
