"""Short forms of a spine MR report's level naming and measurements: cohort CSV columns and console lines.

Both read the report dictionary (``report["level_naming"]``,
``report["measurements"]``), so a cohort's summary can be rebuilt from
reports written earlier.
"""

from __future__ import annotations

from typing import Any

#: vertebrae and discs whose values go into the cohort summary
SUMMARY_VERTEBRAE = ("L1", "L2", "L3", "L4", "L5")
SUMMARY_DISCS = ("L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S")
_VERTEBRA_VALUES = (("anterior_height", "mm"), ("middle_height", "mm"), ("posterior_height", "mm"),
                    ("deformity_grade", ""))
_DISC_VALUES = (("mean_height", "mm"), ("disc_height_index", ""))


def summary_columns() -> list[str]:
    """The cohort CSV columns added for spine MR reports, in order."""
    columns = ["level_naming", "level_flags", "levels_renamed", "lordosis_l1_s1_deg"]
    for name in SUMMARY_VERTEBRAE:
        columns += [_column(name, value, unit) for value, unit in _VERTEBRA_VALUES]
    for name in SUMMARY_DISCS:
        columns += [_column(name, value, unit) for value, unit in _DISC_VALUES]
    return columns


def _column(structure: str, value: str, unit: str) -> str:
    return f"{structure}_{value}" + (f"_{unit}" if unit else "")


def _values(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    structures = (report.get("measurements") or {}).get("structures") or []
    return {s.get("name"): s.get("values", {}) for s in structures if isinstance(s, dict)}


def summary_row(report: dict[str, Any] | None) -> dict[str, Any]:
    """Values for :func:`summary_columns` (empty where missing: the report says why)."""
    row: dict[str, Any] = {column: "" for column in summary_columns()}
    if not report or "level_naming" not in report:
        return row
    naming = report["level_naming"]
    row["level_naming"] = "consistent" if naming.get("consistent") else "flagged"
    row["level_flags"] = "; ".join(f"{f['kind']}: {', '.join(f['structures'])}" for f in naming.get("flags", []))
    row["levels_renamed"] = len(naming.get("renamed", []))
    spine = (report.get("measurements") or {}).get("spine") or {}
    row["lordosis_l1_s1_deg"] = _number(spine.get("lordosis_l1_s1"))
    values = _values(report)
    for name in SUMMARY_VERTEBRAE:
        for value, unit in _VERTEBRA_VALUES:
            row[_column(name, value, unit)] = _number(values.get(name, {}).get(value))
    for name in SUMMARY_DISCS:
        for value, unit in _DISC_VALUES:
            row[_column(name, value, unit)] = _number(values.get(name, {}).get(value))
    return row


def _number(entry: dict[str, Any] | None) -> Any:
    if not entry or entry.get("value") is None:
        return ""
    return entry["value"]


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Console lines: level naming (and what was flagged or renamed), lumbar heights and lordosis."""
    naming = report.get("level_naming")
    if naming is None:
        return []
    lines = []
    if naming.get("consistent"):
        lines.append("  level naming: consistent")
    else:
        flags = naming.get("flags", [])
        lines.append(f"  level naming: {len(flags)} flag(s), check the level names:")
        lines.extend(f"    {flag['kind']}: {flag['message']}" for flag in flags[:8])
        if len(flags) > 8:
            lines.append(f"    ... {len(flags) - 8} more in the report")
    renamed = naming.get("renamed", [])
    if renamed:
        shown = ", ".join(f"{r['from']} -> {r['to']}" for r in renamed if r["voxels"] >= 100)
        lines.append(f"  relabelled by counting from {naming.get('anchor')}: {shown or 'small pieces only'}")
    values = _values(report)
    heights = []
    for name in SUMMARY_VERTEBRAE:
        entry = values.get(name)
        if not entry:
            continue
        numbers = [entry.get(v, {}).get("value") for v in ("anterior_height", "middle_height", "posterior_height")]
        if all(n is not None for n in numbers):
            heights.append(f"{name} {'/'.join(f'{n:.1f}' for n in numbers)}")
    if heights:
        lines.append("  vertebral body heights (mm, anterior/middle/posterior): " + ", ".join(heights))
    lordosis = ((report.get("measurements") or {}).get("spine") or {}).get("lordosis_l1_s1") or {}
    if lordosis.get("value") is not None:
        lines.append(f"  lordosis L1-S1: {lordosis['value']:.1f} deg")
    elif lordosis:
        lines.append(f"  lordosis L1-S1: missing ({lordosis.get('missing')})")
    return lines
