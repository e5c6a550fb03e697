"""Where a named spine structure lies along the spine, to tell neighbouring levels apart.

Names follow the label maps spine-rt serves: vertebrae ``C1``..``C7``,
``T1``..``T12``, ``L1``..``L5``, the sacrum ``S`` (also ``S1``, ``sacrum``),
and discs written with the two vertebrae they join (``L4/L5``, ``L5-S1``,
``T12/L1``). Two structures are *neighbouring levels* when they are of the
same kind (vertebra or disc) and one level apart along the spine (``L2`` and
``L3``; ``L4/L5`` and ``L5/S``). For names that are none of these (e.g.
instance numbers), structures whose label ids differ by one are neighbours.
"""

from __future__ import annotations

import re

_REGIONS = {"C": (0, 7), "T": (7, 12), "L": (19, 5)}  # first position, count
_SACRUM = 24  # right after L5
_VERTEBRA = re.compile(r"^\s*([CTL])\s*(\d{1,2})\s*$", re.IGNORECASE)


def vertebra_position(name: str) -> int | None:
    """Position of a vertebra along the spine from the top (``C1`` = 0), ``None`` if ``name`` is not one."""
    text = name.strip()
    if text.lower() in ("s", "s1", "sacrum"):
        return _SACRUM
    match = _VERTEBRA.match(text)
    if match is None:
        return None
    first, count = _REGIONS[match.group(1).upper()]
    number = int(match.group(2))
    if not 1 <= number <= count:
        return None
    return first + number - 1


def level_of(name: str) -> tuple[str, float] | None:
    """``("vertebra", position)`` or ``("disc", position between its vertebrae)``; ``None`` when unknown."""
    parts = re.split(r"\s*[/\-]\s*", name.strip())
    if len(parts) == 2:
        upper, lower = (vertebra_position(part) for part in parts)
        if upper is not None and lower is not None:
            return "disc", float(upper)
        return None
    position = vertebra_position(name)
    return None if position is None else ("vertebra", float(position))


def neighbouring_levels(first: tuple[int, str], second: tuple[int, str]) -> bool:
    """Whether the structures ``(id, name)`` are one level apart (see the module docstring)."""
    levels = level_of(first[1]), level_of(second[1])
    if levels[0] is None or levels[1] is None:
        return abs(first[0] - second[0]) == 1
    (kind_a, position_a), (kind_b, position_b) = levels  # type: ignore[misc]
    return kind_a == kind_b and abs(position_a - position_b) == 1
