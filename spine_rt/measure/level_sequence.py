"""The labelled pieces of a spine in order along it.

The anatomical order of level names is :func:`spine_rt.anatomy.levels.level_rank`.
:func:`spine_pieces` splits a label map into connected pieces (26-connected
per label) and orders them along the spine: by their centroid's position
along the principal axis of all pieces' centroids (size-weighted), pointing
superior. The spine from T9 to the sacrum turns by well under 90 degrees, so
this order follows the curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spine_rt.anatomy.levels import structure_kind

_FULL = np.ones((3, 3, 3), dtype=bool)
#: pieces smaller than this (voxels) are specks, left out of the order (unless a label has nothing else)
MIN_PIECE_VOXELS = 4


@dataclass
class SpinePiece:
    """One connected piece of one label.

    Attributes:
        label: the label id it carries; ``name``, ``kind`` (``"vertebra"``, ``"disc"``, ``"sacrum"``).
        index: the piece's id in :attr:`SpinePieces.pieces_map`.
        voxels: size in voxels; ``centroid``: world mm ``(3,)``; ``position``: mm along the spine axis;
        ``off_column_mm``: distance of the centroid from the curve through the vertebral column (mm).
    """

    label: int
    name: str
    kind: str
    index: int
    voxels: int
    centroid: np.ndarray
    position: float = 0.0
    off_column_mm: float = 0.0


@dataclass
class SpinePieces:
    """All pieces, ordered from inferior to superior, and the ``(I, J, K)`` int32 map of piece ids (0: none)."""

    pieces: list[SpinePiece]
    pieces_map: np.ndarray
    axis: np.ndarray

    def voxels_of(self, piece: SpinePiece) -> np.ndarray:
        """``(N, 3)`` voxel indices of a piece."""
        box = self._boxes[piece.index - 1]
        return np.argwhere(self.pieces_map[box] == piece.index) + np.array([s.start for s in box])

    def box_of(self, piece: SpinePiece, margin: int = 0) -> tuple[slice, ...]:
        """The piece's bounding box in :attr:`pieces_map`, grown by ``margin`` voxels."""
        box = self._boxes[piece.index - 1]
        return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n))
                     for s, n in zip(box, self.pieces_map.shape))

    def __post_init__(self) -> None:
        self._boxes = ndimage.find_objects(self.pieces_map)


def spine_pieces(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str]) -> SpinePieces:
    """Connected pieces of every spine label (vertebra, disc, sacrum), ordered along the spine.

    Args:
        labels: ``(I, J, K)`` integer label map; affine: 4x4 voxel -> world mm; names: label id -> name.
    """
    affine = np.asarray(affine, dtype=np.float64)
    pieces_map = np.zeros(labels.shape, np.int32)
    pieces: list[SpinePiece] = []
    boxes = ndimage.find_objects(labels.astype(np.int32, copy=False))
    for position, box in enumerate(boxes):
        label = position + 1
        if box is None:
            continue
        name = names.get(label, f"label {label}")
        kind = structure_kind(name)
        if kind == "other":
            continue
        found, count = ndimage.label(labels[box] == label, structure=_FULL)
        sizes = np.bincount(found.ravel())
        if count > 1 and sizes[1:].min() < MIN_PIECE_VOXELS:  # drop specks: number the rest 1..count again
            keep = sizes >= MIN_PIECE_VOXELS
            keep[0] = False
            renumber = np.zeros(count + 1, np.int32)
            renumber[keep] = np.arange(1, int(keep.sum()) + 1)
            found = renumber[found]
            count = int(keep.sum())
            sizes = np.bincount(found.ravel(), minlength=count + 1)
            if count == 0:
                continue
        centres = np.asarray(ndimage.center_of_mass(found > 0, found, range(1, count + 1))).reshape(-1, 3)
        offset = np.array([s.start for s in box], dtype=np.float64)
        first = len(pieces)
        region = pieces_map[box]
        region[found > 0] = found[found > 0] + first
        for part in range(1, count + 1):
            centroid = affine[:3, :3] @ (centres[part - 1] + offset) + affine[:3, 3]
            pieces.append(SpinePiece(label, name, kind, first + part, int(sizes[part]), centroid))
    axis = np.array([0.0, 0.0, 1.0])
    if len(pieces) >= 2:
        weights = np.array([p.voxels for p in pieces], dtype=np.float64)
        centres = np.array([p.centroid for p in pieces])
        mean = (weights[:, None] * centres).sum(axis=0) / weights.sum()
        spread = (weights[:, None, None] * np.einsum("ni,nj->nij", centres - mean, centres - mean)).sum(axis=0)
        axis = np.linalg.eigh(spread)[1][:, -1]
        if axis[2] < 0:
            axis = -axis
    for piece in pieces:
        piece.position = float(piece.centroid @ axis)
    pieces.sort(key=lambda p: p.position)
    _distances_from_column(pieces, axis)
    return SpinePieces(pieces, pieces_map, axis)


def _distances_from_column(pieces: list[SpinePiece], axis: np.ndarray) -> None:
    """Fit a cubic curve (size-weighted, refitted without pieces beyond 12 mm or 2.5 median distances)
    through the pieces' centroids across the spine axis, and store each piece's distance from it."""
    if len(pieces) < 6:
        return
    t = np.array([p.position for p in pieces])
    across = np.array([p.centroid - p.position * axis for p in pieces])
    weights = np.sqrt(np.array([p.voxels for p in pieces], dtype=np.float64))
    keep = np.ones(len(pieces), bool)
    distance = np.zeros(len(pieces))
    for _ in range(4):
        scaled = (t - t.mean()) / max(float(np.ptp(t)), 1.0)
        design = np.stack([np.ones_like(t), scaled, scaled ** 2, scaled ** 3], axis=1)
        fitted = np.linalg.lstsq(design[keep] * weights[keep, None], across[keep] * weights[keep, None],
                                 rcond=None)[0]
        distance = np.linalg.norm(across - design @ fitted, axis=1)
        limit = max(12.0, 2.5 * float(np.median(distance[keep])))
        new_keep = distance <= limit
        if new_keep.sum() < 6 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    for piece, value in zip(pieces, distance):
        piece.off_column_mm = float(value)
