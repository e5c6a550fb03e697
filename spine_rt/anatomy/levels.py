"""Spine level names and their order along the spine.

Vertebrae are ``C1``..``C7``, ``T1``..``T12``, ``L1``..``L5`` and the sacrum
(``S``; also written ``S1`` or ``sacrum``); a disc is named by the two
vertebrae it joins, upper first (``L4/L5``, ``L5/S``), so vertebrae and discs
alternate along the spine.

:func:`level_rank` puts level names on one scale that rises from the sacrum
upwards (``S`` 0, ``L5`` 1, ..., ``L1`` 5, ``T12`` 6, ..., ``T1`` 17, ``C7``
18, ...; a disc ``A/B`` lies halfway between its vertebrae, ``L5/S`` 0.5).
:func:`canonical_level_name` reads the looser spellings of label maps
(``l5 - s1``, ``T 12/L1``) as these names.
"""

from __future__ import annotations

import re

#: The lumbar vertebrae, top to bottom.
LUMBAR_LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5")
#: The fused sacral segments, top to bottom (their top is the S1 endplate).
SACRAL_SEGMENTS: tuple[str, ...] = ("S1", "S2", "S3", "S4", "S5")
#: Names that mean the sacrum.
SACRUM_NAMES = frozenset({"S", "S1", "sacrum"})

_VERTEBRA = re.compile(r"^[CTL]\d+$")
_LOOSE_VERTEBRA = re.compile(r"^\s*([CTL])\s*(\d{1,2})\s*$", re.IGNORECASE)
_LOOSE_DISC = re.compile(r"\s*[/\-]\s*")
_LEVEL = re.compile(r"^([CTL])(\d+)$")
#: rank of the region's vertebra number 0 (rank = top - number): L5 -> 1, T12 -> 6, C7 -> 18
_REGION_TOP = {"L": 6, "T": 18, "C": 25}
_REGION_COUNT = {"L": 5, "T": 12, "C": 7}


def structure_kind(name: str) -> str:
    """``"disc"`` (a name with ``/``), ``"sacrum"``, ``"vertebra"`` (``C``/``T``/``L`` + number) or ``"other"``."""
    if "/" in name:
        return "disc"
    if name in SACRUM_NAMES:
        return "sacrum"
    return "vertebra" if _VERTEBRA.match(name) else "other"


def level_rank(name: str) -> float | None:
    """Position of a level name from the sacrum upwards (see the module docstring), None for other names."""
    if structure_kind(name) == "sacrum":
        return 0.0
    if "/" in name:
        above, _, below = name.partition("/")
        upper, lower = level_rank(above), level_rank(below)
        if upper is None or lower is None:
            return None
        return 0.5 * (upper + lower)
    match = _LEVEL.match(name)
    if match is None:
        return None
    return float(_REGION_TOP[match.group(1)] - int(match.group(2)))


def vertebra_name(rank: int) -> str:
    """The vertebra at ``rank`` (0 = the sacrum, ``"S"``; ``"rank N"`` above C1)."""
    if rank <= 0:
        return "S"
    for region, top in _REGION_TOP.items():
        number = top - rank
        if 1 <= number <= _REGION_COUNT[region]:
            return f"{region}{number}"
    return f"rank {rank}"



def canonical_level_name(name: str) -> str | None:
    """The level name ``name`` spells, written as above (``"l5 - s1"`` -> ``"L5/S"``), or None.

    Case and spaces do not matter, a disc may be written with ``-``; a
    vertebra number outside its region (``L6``, ``T13``) names no level.
    """
    parts = _LOOSE_DISC.split(name.strip())
    if len(parts) == 2:
        upper, lower = (canonical_level_name(part) for part in parts)
        return None if upper is None or lower is None or "/" in upper + lower else f"{upper}/{lower}"
    if len(parts) != 1:
        return None
    text = parts[0].strip()
    if text.lower() in {item.lower() for item in SACRUM_NAMES}:
        return "S"
    match = _LOOSE_VERTEBRA.match(text)
    if match is None:
        return None
    region, number = match.group(1).upper(), int(match.group(2))
    return f"{region}{number}" if 1 <= number <= _REGION_COUNT[region] else None
