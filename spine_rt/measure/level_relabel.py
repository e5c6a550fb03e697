"""Level names by counting from an anchor along the spine, and where the network disagrees.

:func:`relabel_levels` counts vertebrae and discs up the spine from an
anchor and rewrites names that disagree with the count:

1. the labelled pieces are ordered along the spine
   (:mod:`~spine_rt.measure.level_sequence`); pieces smaller than
   :data:`FRAGMENT_FRACTION` of the median piece of their kind are fragments
   and take the new name of the piece they touch most; pieces further than
   :data:`OFF_COLUMN_MM` from the curve through the vertebral column
   (posterior elements labelled as bodies) are not counted either;
2. anchor: the lowest vertebra piece that is the sacrum (the network's mean
   sacrum probability over it >= 0.5 when probabilities are given, else its
   label); without a sacrum, the lowest piece named L5 (the lowest lumbar
   vertebra); without either nothing is renamed;
3. going up, each vertebra piece is the next vertebra and each disc piece
   the disc above the last vertebra; vertebra pieces with no disc between
   them, of the same label or touching, whose centroids lie closer along
   the spine than :data:`SPLIT_SPACING` of the usual spacing between
   vertebrae are one split vertebra; a vertebra piece
   :data:`MERGED_RATIO` times as long along the spine as its neighbours may
   hold two vertebrae (a disc the network missed): it is flagged, not split
   (splitting partial merges did more harm than good on the phantoms);
4. a count name that the label set lacks (above T9 in MRSpineSeg) becomes
   background.

Transitional anatomy is never silently "fixed": where the count from the
sacrum and the network disagree by the same one-level shift from the first
vertebra above it upwards (what 6 lumbar vertebrae or a sacralised L5 look
like), the network's names are kept and the disagreement is reported;
elsewhere the names are rewritten and every rewrite is reported. Counted
from an ``L5`` anchor (a label set without the sacrum) the same shift means
the network named two vertebrae L5 (or skipped L4) and is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from spine_rt.anatomy.levels import level_rank, vertebra_name
from spine_rt.measure.level_check import LevelFlag
from spine_rt.measure.level_sequence import SpinePiece, SpinePieces, spine_pieces

#: more labelled pieces than this: no count (a label map this fragmented is not a spine to count)
MAX_PIECES = 300
#: pieces whose centroid lies further than this from the curve through the vertebral column are not counted (mm)
OFF_COLUMN_MM = 25.0
#: pieces smaller than this fraction of their kind's median piece are fragments
FRAGMENT_FRACTION = 0.2
#: a vertebra piece this many times longer (along the spine) than its neighbours holds two vertebrae
MERGED_RATIO = 1.7
#: vertebra pieces closer along the spine than this fraction of the usual spacing are one split vertebra
SPLIT_SPACING = 0.5
#: vertebra pieces at least this fraction of the median vertebra are neighbours for :data:`MERGED_RATIO`
NEIGHBOUR_FRACTION = 0.5
#: sacrum probability an anchor piece needs (when probabilities are given)
ANCHOR_PROBABILITY = 0.5


@dataclass
class LevelRelabel:
    """What :func:`relabel_levels` did.

    Attributes:
        labels: the relabelled map (a new array; the input is not changed).
        anchor: the anchor's name (``"S"`` or ``"L5"``) or None.
        renamed: ``[{"from", "to", "voxels"}]`` rewrites made.
        flags: ``count`` flags: every disagreement between the count and the network.
        transitional: True when the disagreement looks like transitional anatomy (names kept).
    """

    labels: np.ndarray
    anchor: str | None
    renamed: list[dict[str, Any]] = field(default_factory=list)
    flags: list[LevelFlag] = field(default_factory=list)
    transitional: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "renamed": self.renamed, "transitional_anatomy_possible": self.transitional,
                "flags": [f.as_dict() for f in self.flags]}


def _mean_probability(probabilities: np.ndarray | None, found: SpinePieces, piece: SpinePiece,
                      label: int) -> float | None:
    if probabilities is None:
        return None
    box = found.box_of(piece)
    return float(probabilities[label][box][found.map_in(box) == piece.index].mean())


def relabel_levels(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str],
                   probabilities: np.ndarray | None = None, *, rewrite: bool = True,
                   pieces: SpinePieces | None = None) -> LevelRelabel:
    """Count levels from the anchor and rewrite disagreeing names (see the module docstring).

    Args:
        labels: ``(I, J, K)`` integer label map; affine: its 4x4 voxel -> world mm; names: label id -> name.
        probabilities: optional ``(C, I, J, K)`` network probabilities on the same grid.
        rewrite: False: only report the disagreements (the labels come back unchanged).
        pieces: ``spine_pieces(labels, affine, names)`` when the caller has it already.
    """
    affine = np.asarray(affine, dtype=np.float64)
    ids = {name: label for label, name in names.items()}
    found = pieces if pieces is not None else spine_pieces(labels, affine, names)
    pieces = found.pieces
    out = labels.copy()
    result = LevelRelabel(out, None)
    if not pieces:
        return result
    if len(pieces) > MAX_PIECES:
        result.flags.append(LevelFlag("count", [], f"{len(pieces)} separate labelled pieces: too fragmented to count "
                                      "levels; nothing renamed"))
        return result
    largest: dict[int, int] = {}
    for piece in pieces:
        largest[piece.label] = max(largest.get(piece.label, 0), piece.voxels)
    medians = {}
    for kind in ("bone", "disc"):
        sizes = [size for label, size in largest.items() if (names[label].count("/") == 1) == (kind == "disc")]
        medians[kind] = float(np.median(sizes)) if sizes else 0.0

    def fragment(piece: SpinePiece) -> bool:
        return piece.voxels < FRAGMENT_FRACTION * medians["disc" if piece.kind == "disc" else "bone"]

    def big(piece: SpinePiece) -> bool:
        return not fragment(piece) and piece.off_column_mm <= OFF_COLUMN_MM

    bones = [p for p in pieces if p.kind != "disc" and big(p)]
    sacrum_id = next((label for label, name in names.items() if level_rank(name) == 0.0), None)
    anchor: SpinePiece | None = None
    for piece in bones:
        if sacrum_id is None:
            break
        chance = _mean_probability(probabilities, found, piece, sacrum_id)
        if (chance is not None and chance >= ANCHOR_PROBABILITY) or (chance is None and piece.kind == "sacrum"):
            anchor = piece
            break
    anchor_rank = 0
    if anchor is None:
        anchor = next((p for p in bones if p.name == "L5"), None)
        anchor_rank = 1
    if anchor is None:
        return result
    result.anchor = vertebra_name(anchor_rank)

    # count upwards: (piece, count name) for whole pieces, (piece, lower name, upper name) for merged ones
    assigned: dict[int, str] = {anchor.index: vertebra_name(anchor_rank)}
    long_pieces: list[SpinePiece] = []
    rank = anchor_rank
    above = [p for p in pieces if p.position > anchor.position and big(p)]
    bone_order = [p for p in above if p.kind != "disc"]
    typical = [p for p in bone_order if p.voxels >= NEIGHBOUR_FRACTION * medians["bone"]]
    steps = np.diff([p.position for p in typical])
    spacing = float(np.median(steps)) if steps.size else 0.0
    previous: SpinePiece | None = anchor
    for piece in above:
        if piece.kind == "disc":
            assigned[piece.index] = f"{vertebra_name(rank + 1)}/{vertebra_name(rank)}"
            previous = piece
            continue
        if previous is not None and previous.kind != "disc" and previous.index in assigned and (
                _one_vertebra(found, previous, piece, spacing)):
            assigned[piece.index] = assigned[previous.index]  # a split vertebra: no disc between the pieces
            continue
        previous = piece
        if _holds_two(piece, typical, found, affine):
            long_pieces.append(piece)
        rank += 1
        assigned[piece.index] = vertebra_name(rank)

    # disagreements
    shifts = []
    for piece in pieces:
        count_name = assigned.get(piece.index)
        if count_name is None or count_name == piece.name:
            continue
        shift = _shift(piece.name, count_name)
        shifts.append((piece, count_name, shift))
    for piece in long_pieces:
        result.flags.append(LevelFlag("count", [piece.name], f"{piece.name} is about as long as two vertebrae along "
                                      "the spine: a disc may be missing in it, and the count above it one short"))
    lumbar_shift = anchor_rank == 0 and _transitional(shifts, anchor, pieces)
    result.transitional = lumbar_shift
    for piece, count_name, shift in shifts:
        text = (f"the network names {piece.name} what the count from {result.anchor} makes {count_name}"
                + (f" ({'+' if shift > 0 else ''}{shift:g} level)" if shift is not None else ""))
        if lumbar_shift:
            text += ("; the same shift from the first vertebra above the anchor is what transitional anatomy "
                     "(6 lumbar vertebrae, a sacralised L5) looks like: names kept, check the level count")
        result.flags.append(LevelFlag("count", [piece.name], text))
    if not rewrite or lumbar_shift:
        return result

    new_ids: dict[int, int] = {}
    for piece in pieces:
        if piece.index in assigned:
            new_ids[piece.index] = ids.get(assigned[piece.index], 0)
    for index, new in new_ids.items():
        piece = next(p for p in pieces if p.index == index)
        if new != piece.label:
            box = found.box_of(piece)
            out[box][found.map_in(box) == index] = new
            _record(result, piece.name, names.get(new, "background") if new else "background", piece.voxels)
    _fragments(out, found, [p for p in pieces if fragment(p) and p.position > anchor.position],
               set(new_ids), result, names)
    return result


def _record(result: LevelRelabel, old: str, new: str, voxels: int) -> None:
    result.renamed.append({"from": old, "to": new, "voxels": int(voxels)})


def _shift(network: str, count: str) -> float | None:
    a, b = level_rank(network), level_rank(count)
    return None if a is None or b is None else a - b


def _transitional(shifts: list[tuple[SpinePiece, str, float | None]], anchor: SpinePiece,
                  pieces: list[SpinePiece]) -> bool:
    """A one-level shift shared by every disagreeing piece, starting at the first vertebra above the anchor.

    Asked only when the anchor is the sacrum, the one anchor that can show transitional anatomy
    (counted from the sacrum, a lumbarised S1 or a sacralised L5 moves every lumbar name by one). An
    ``L5`` anchor is the network's own lowest L5: a shift starting right above it means the network
    gave that name twice (or skipped L4), a naming error rewritten like any other.
    """
    if not shifts:
        return False
    values = {shift for _, _, shift in shifts}
    if len(values) != 1 or next(iter(values)) not in (-1.0, 1.0):
        return False
    first = next((p for p in pieces if p.position > anchor.position and p.kind == "vertebra"), None)
    return first is not None and any(piece.index == first.index for piece, _, _ in shifts)


def _touching(found: SpinePieces, first: SpinePiece, second: SpinePiece) -> bool:
    box = found.box_of(first, margin=1)
    ids = found.map_in(box)
    grown = ndimage.binary_dilation(ids == first.index, structure=np.ones((3, 3, 3), bool))
    return bool(np.any(grown & (ids == second.index)))


def _one_vertebra(found: SpinePieces, first: SpinePiece, second: SpinePiece, spacing: float) -> bool:
    """Two vertebra pieces with no disc between them, of the same label or touching, whose centroids lie
    closer along the spine than :data:`SPLIT_SPACING` of the usual spacing between vertebrae."""
    if spacing <= 0 or abs(second.position - first.position) >= SPLIT_SPACING * spacing:
        return False
    return first.label == second.label or _touching(found, first, second)


def _local_direction(piece: SpinePiece, bones: list[SpinePiece], axis: np.ndarray) -> np.ndarray:
    """The spine's direction at a piece: from the vertebra below to the one above (or to/from the piece itself)."""
    at = bones.index(piece)
    below = bones[at - 1] if at > 0 else piece
    above = bones[at + 1] if at + 1 < len(bones) else piece
    direction = above.centroid - below.centroid
    norm = float(np.linalg.norm(direction))
    return direction / norm if norm > 1e-9 else axis


def _extent(piece: SpinePiece, found: SpinePieces, affine: np.ndarray, direction: np.ndarray) -> float:
    along = found.voxels_of(piece) @ (affine[:3, :3].T @ direction)  # mm along it (up to a constant)
    return float(np.percentile(along, 95) - np.percentile(along, 5))


def _holds_two(piece: SpinePiece, bones: list[SpinePiece], found: SpinePieces, affine: np.ndarray) -> bool:
    """Whether a vertebra piece is about twice as long along the spine as its vertebra neighbours."""
    if piece.kind != "vertebra" or piece not in bones:
        return False
    at = bones.index(piece)
    below = [b for b in bones[max(0, at - 2): at] if b.kind == "vertebra"]
    above = [b for b in bones[at + 1: at + 3] if b.kind == "vertebra"]
    if not below or not above:  # only between two vertebrae: never the lowest or the highest piece
        return False
    neighbours = below + above
    axis = np.array([0.0, 0.0, 1.0])
    direction = _local_direction(piece, bones, axis)
    own = _extent(piece, found, affine, direction)
    others = [_extent(b, found, affine, _local_direction(b, bones, axis)) for b in neighbours]
    return own >= MERGED_RATIO * float(np.median(others))


def _fragments(out: np.ndarray, found: SpinePieces, fragments: list[SpinePiece], renamed: set[int],
               result: LevelRelabel, names: Mapping[int, str]) -> None:
    """Each fragment takes the (new) label most common on its one-voxel shell among renamed pieces."""
    for piece in fragments:
        box = found.box_of(piece, margin=1)
        ids = found.map_in(box)
        inside = ids == piece.index
        shell = ndimage.binary_dilation(inside) & ~inside & np.isin(ids, list(renamed))
        if not shell.any():
            continue
        values = np.bincount(out[box][shell].astype(np.int64))
        new = int(np.argmax(values))
        if new != piece.label:
            out[box][inside] = new
            _record(result, piece.name, names.get(new, "background") if new else "background", piece.voxels)
