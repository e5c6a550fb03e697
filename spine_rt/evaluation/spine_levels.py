"""Where a named spine structure lies along the spine, to tell neighbouring levels apart.

Names follow the label maps spine-rt serves: vertebrae ``C1``..``C7``,
``T1``..``T12``, ``L1``..``L5``, the sacrum ``S`` (also ``S1``, ``sacrum``),
and discs written with the two vertebrae they join (``L4/L5``, ``L5-S1``,
``T12/L1``). Two structures are *neighbouring levels* when they are of the
same kind (vertebra or disc) and one level apart along the spine (``L2`` and
``L3``; ``L4/L5`` and ``L5/S``). For names that are none of these (e.g.
instance numbers), structures whose label ids differ by one are neighbours.
The names and their order along the spine are those of :mod:`spine_rt.anatomy.levels`.
"""

from __future__ import annotations

from spine_rt.anatomy.levels import canonical_level_name, level_rank


def level_of(name: str) -> tuple[str, float] | None:
    """``("vertebra", rank)`` or ``("disc", rank)`` along the spine, ``None`` when unknown.

    The rank is :func:`~spine_rt.anatomy.levels.level_rank` of the name as
    :func:`~spine_rt.anatomy.levels.canonical_level_name` reads it.
    """
    canonical = canonical_level_name(name)
    if canonical is None:
        return None
    rank = level_rank(canonical)
    assert rank is not None  # every canonical name has a rank
    return ("disc" if "/" in canonical else "vertebra"), rank


def neighbouring_levels(first: tuple[int, str], second: tuple[int, str]) -> bool:
    """Whether the structures ``(id, name)`` are one level apart (see the module docstring)."""
    levels = level_of(first[1]), level_of(second[1])
    if levels[0] is None or levels[1] is None:
        return abs(first[0] - second[0]) == 1
    (kind_a, position_a), (kind_b, position_b) = levels  # type: ignore[misc]
    return kind_a == kind_b and abs(position_a - position_b) == 1
