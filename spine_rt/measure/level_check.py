"""Is the level naming of a spine label map consistent? Flags and a per-level confidence.

Going up the spine from the sacrum, structures must alternate vertebra /
disc in the anatomical order of their names (``S``, ``L5/S``, ``L5``,
``L4/L5``, ...), each name once and in one connected piece.
:func:`check_levels` orders the labelled pieces along the spine
(:mod:`~spine_rt.measure.level_sequence`) and flags:

* ``split``: a name in several sizeable pieces next to each other;
* ``duplicated``: a name in sizeable pieces with other levels between them;
* ``swapped``: two neighbouring names in the wrong order along the spine;
* ``missing``: a name expected between the lowest and the highest level
  found (levels beyond the field of view are not missing);
* ``stray``: a name whose largest piece is under :data:`STRAY_FRACTION` of
  the median name's (a few voxels): left out of the order;
* ``count``: (from :func:`~spine_rt.measure.level_relabel.relabel_levels`)
  the count from the anchor names a structure differently.

A piece is sizeable when it holds at least :data:`SIZEABLE_FRACTION` of its
name's largest piece. The confidence of a level is the network's mean
probability of its label over its voxels (when the probabilities are
given), else missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spine_rt.anatomy.levels import level_rank
from spine_rt.measure.level_sequence import SpinePiece, SpinePieces, spine_pieces

#: a piece of a name counts when it holds at least this fraction of the name's largest piece
SIZEABLE_FRACTION = 0.15
#: a name whose largest piece is below this fraction of the median name's is stray (flagged, not ordered)
STRAY_FRACTION = 0.05


@dataclass
class LevelFlag:
    """One inconsistency: ``kind`` (split, duplicated, swapped, missing, count), the names and a sentence."""

    kind: str
    structures: list[str]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "structures": list(self.structures), "message": self.message}


@dataclass
class LevelCheck:
    """The check of one label map: per level entries (in order from the sacrum up) and the flags."""

    levels: list[dict[str, Any]]
    flags: list[LevelFlag] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.flags

    def flagged(self, kind: str) -> list[LevelFlag]:
        return [f for f in self.flags if f.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {"consistent": self.consistent, "levels": self.levels, "flags": [f.as_dict() for f in self.flags]}


def check_levels(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str],
                 probabilities: np.ndarray | None = None, *, pieces: SpinePieces | None = None) -> LevelCheck:
    """Check the level naming of ``labels`` (see the module docstring).

    Args:
        labels: ``(I, J, K)`` integer label map; affine: its 4x4 voxel -> world mm.
        names: label id -> structure name.
        probabilities: optional ``(C, I, J, K)`` class probabilities of the network on the same grid.
        pieces: ``spine_pieces(labels, affine, names)`` when the caller has it already.
    """
    found = pieces if pieces is not None else spine_pieces(labels, affine, names)
    largest: dict[int, int] = {}
    for piece in found.pieces:
        largest[piece.label] = max(largest.get(piece.label, 0), piece.voxels)
    flags: list[LevelFlag] = []
    typical = float(np.median(list(largest.values()))) if largest else 0.0
    stray = sorted((label for label, size in largest.items() if size < STRAY_FRACTION * typical),
                   key=lambda label: largest[label])
    if stray:
        listed = [names.get(label, f"label {label}") for label in stray]
        flags.append(LevelFlag("stray", listed, "too small to be a level, left out of the order: " + ", ".join(
            f"{name} ({largest[label]} voxels)" for name, label in zip(listed, stray))))
    sizeable = [p for p in found.pieces
                if p.voxels >= SIZEABLE_FRACTION * largest[p.label] and p.label not in stray]

    order = [p.label for p in sizeable]
    for label in dict.fromkeys(order):
        spots = [i for i, other in enumerate(order) if other == label]
        if len(spots) < 2:
            continue
        name = names.get(label, f"label {label}")
        between = {order[i] for i in range(spots[0] + 1, spots[-1]) if order[i] != label}
        if between:
            others = ", ".join(names.get(b, str(b)) for b in sorted(between, key=lambda b: order.index(b)))
            flags.append(LevelFlag("duplicated", [name], f"{name} is found in {len(spots)} places along the spine, "
                                   f"with {others} between them"))
        else:
            flags.append(LevelFlag("split", [name], f"{name} is in {len(spots)} separate pieces"))

    main: list[SpinePiece] = []
    for piece in sizeable:
        if piece.voxels == largest[piece.label] and all(m.label != piece.label for m in main):
            main.append(piece)
    ranked = [(p, level_rank(p.name)) for p in main]
    ranked = [(p, r) for p, r in ranked if r is not None]
    for (low, low_rank), (high, high_rank) in zip(ranked, ranked[1:]):
        if high_rank < low_rank:
            flags.append(LevelFlag("swapped", [low.name, high.name], f"{high.name} lies above {low.name} along the "
                                   "spine, against their anatomical order"))
    ranks_found = {r for _, r in ranked}
    if ranks_found:
        known = {level_rank(n): n for n in names.values() if level_rank(n) is not None}
        low, high = min(ranks_found), max(ranks_found)
        gaps = [known[r] for r in sorted(known) if low < r < high and r not in ranks_found]
        if gaps:
            flags.append(LevelFlag("missing", gaps, f"not found between {known[low]} and {known[high]}: "
                                   f"{', '.join(gaps)}"))

    flagged_names = {n for f in flags for n in f.structures}
    levels = []
    totals: dict[int, int] = {}
    for piece in found.pieces:
        totals[piece.label] = totals.get(piece.label, 0) + piece.voxels
    for piece in main:
        entry: dict[str, Any] = {
            "name": piece.name, "label": piece.label, "kind": piece.kind,
            "pieces": sum(1 for p in found.pieces if p.label == piece.label),
            "largest_piece_fraction": round(piece.voxels / totals[piece.label], 3),
            "position_mm": round(piece.position, 1),
            "flags": sorted({f.kind for f in flags if piece.name in f.structures}),
        }
        if probabilities is not None:
            inside = labels == piece.label
            entry["confidence"] = round(float(probabilities[piece.label][inside].mean()), 3)
        else:
            entry["confidence"] = None
            entry["confidence_missing"] = "the network's probabilities were not kept"
        entry["consistent"] = piece.name not in flagged_names
        levels.append(entry)
    return LevelCheck(levels, flags)
