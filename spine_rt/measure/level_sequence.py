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
from dataclasses import dataclass, field

import numpy as np

from spine_rt.anatomy.levels import structure_kind
from spine_rt.measure.label_components import checked_label_map, label_components

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
    """All pieces, ordered from inferior to superior, and the ``(I, J, K)`` map of piece ids (0: none).

    The map is kept as the labelling's component ids ``components`` and the table ``renumber`` (component id ->
    piece id): :meth:`map_in` reads a box of it without making the whole map, which only
    :attr:`pieces_map` does.
    """

    pieces: list[SpinePiece]
    components: np.ndarray
    renumber: np.ndarray
    axis: np.ndarray
    #: ``(n, 6)`` inclusive ``(i0, i1, j0, j1, k0, k1)`` box of piece ``n`` at row ``n - 1``
    extents: np.ndarray = field(repr=False)

    def map_in(self, box: tuple[slice, ...]) -> np.ndarray:
        """The piece ids (int32, 0: none) in ``box`` of the grid."""
        return self.renumber[self.components[box]]

    @property
    def pieces_map(self) -> np.ndarray:
        """``(I, J, K)`` int32 piece ids over the whole grid (0: none); made on each access."""
        return self.map_in((slice(None),) * self.components.ndim)

    def _box(self, index: int) -> tuple[slice, ...]:
        i0, i1, j0, j1, k0, k1 = (int(v) for v in self.extents[index - 1])
        return slice(i0, i1 + 1), slice(j0, j1 + 1), slice(k0, k1 + 1)

    def voxels_of(self, piece: SpinePiece) -> np.ndarray:
        """``(N, 3)`` voxel indices of a piece."""
        box = self._box(piece.index)
        return np.argwhere(self.map_in(box) == piece.index) + np.array([s.start for s in box])

    def box_of(self, piece: SpinePiece, margin: int = 0) -> tuple[slice, ...]:
        """The piece's bounding box in :attr:`pieces_map`, grown by ``margin`` voxels."""
        box = self._box(piece.index)
        return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n))
                     for s, n in zip(box, self.components.shape))


def spine_pieces(labels: np.ndarray, affine: np.ndarray, names: Mapping[int, str]) -> SpinePieces:
    """Connected pieces of every spine label (vertebra, disc, sacrum), ordered along the spine.

    The pieces come from one multi-label pass (:func:`~spine_rt.measure.label_components.label_components`,
    26-connected within each label), whatever the number of labels.

    Args:
        labels: ``(I, J, K)`` integer label map; affine: 4x4 voxel -> world mm; names: label id -> name.
    """
    affine = np.asarray(affine, dtype=np.float64)
    labels = checked_label_map(labels)  # before the lookup below indexes with it
    top = int(labels.max(initial=0))
    spine = np.zeros(top + 1, np.uint16)  # label id -> itself where it is a spine structure, else 0
    for label in range(1, top + 1):
        if structure_kind(names.get(label, f"label {label}")) != "other":
            spine[label] = label
    # every label a spine structure (the usual map): the labels as they are, without a pass to look them up
    only_spine = bool(np.array_equal(spine, np.arange(top + 1)))
    found = label_components(labels if only_spine else spine[labels], connectivity=26)
    sizes, owner, count = found.sizes, found.owner, found.count
    # keep every piece of >= MIN_PIECE_VOXELS voxels; a label's single piece is kept whatever its size
    per_label = np.bincount(owner[1:], minlength=top + 1)
    keep = (sizes >= MIN_PIECE_VOXELS) | (per_label[owner] == 1)
    keep[0] = False
    kept = np.flatnonzero(keep)
    # number the kept pieces 1..n by label, then in raster order
    kept = kept[np.argsort(owner[kept], kind="stable")]
    renumber = np.zeros(count + 1, np.int32)
    renumber[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    world = found.centroids[kept] @ affine[:3, :3].T + affine[:3, 3]
    named = {int(label): names.get(int(label), f"label {label}") for label in np.unique(owner[kept])}
    kinds = {label: structure_kind(name) for label, name in named.items()}
    pieces = [SpinePiece(label, named[label], kinds[label], index + 1, int(sizes[component]), world[index])
              for index, (component, label) in enumerate(zip(kept.tolist(), owner[kept].tolist()))]
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
    return SpinePieces(pieces, found.pieces, renumber, axis, found.extents[kept])


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
