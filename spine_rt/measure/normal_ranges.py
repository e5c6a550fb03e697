"""Normal ranges of the lumbar/pelvic parameters (SEEDS.md, MBNet) and flagging a value against them."""

from __future__ import annotations

import math

#: name -> (low, high), degrees (LDI: %), inclusive
NORMAL_RANGES: dict[str, tuple[float, float]] = {
    "PI": (34.0, 84.0),
    "LL": (31.0, 79.0),
    "PI-LL": (-10.0, 10.0),
    "LDI": (50.0, 80.0),
    "RLL": (-14.0, 11.0),
    "SS": (20.0, 65.0),
    "PT": (5.0, 30.0),
}
#: unit of each of the 18 values
PERCENT_VALUES = frozenset({"LDI"})


def value_unit(name: str) -> str:
    """``"%"`` for LDI, ``"degrees"`` for the angles."""
    return "%" if name in PERCENT_VALUES else "degrees"


def flag_value(name: str, value: float | None) -> str:
    """``"normal"``, ``"low"`` or ``"high"`` against :data:`NORMAL_RANGES`; ``"no range"`` for
    values without one (vertebral and disc angles, L4S1); ``"not measured"`` for None or NaN."""
    if value is None or not math.isfinite(value):
        return "not measured"
    bounds = NORMAL_RANGES.get(name)
    if bounds is None:
        return "no range"
    low, high = bounds
    return "low" if value < low else "high" if value > high else "normal"


def flagged_values(values: dict[str, float | None], decimals: int = 2) -> dict[str, dict]:
    """``{name: {"value", "unit", "normal_range", "flag"}}`` for report JSON (values rounded, NaN -> None)."""
    report = {}
    for name, value in values.items():
        finite = value is not None and math.isfinite(value)
        report[name] = {
            "value": round(float(value), decimals) if finite else None,
            "unit": value_unit(name),
            "normal_range": list(NORMAL_RANGES[name]) if name in NORMAL_RANGES else None,
            "flag": flag_value(name, value),
        }
    return report
