"""Connected pieces of every label of a 3D label map, found in one pass.

:func:`label_components` runs a multi-label connected-component labelling
(``cc3d``, the seung-lab library: voxels join a piece only when they carry
the same label) and its statistics once, however many labels the map has.
Labelling label by label (``scipy.ndimage.label(labels == k)``) scans the
whole grid once per label wherever the labels are scattered, as an
untrained network's output is: 20 labels over 7 M voxels took about 10 s
that way and takes well under a second this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spine_rt.errors import InputError


@dataclass(frozen=True, eq=False)
class LabelComponents:
    """The pieces of a label map.

    Attributes:
        pieces: ``(I, J, K)`` uint32 piece ids, 0 where the label is 0; numbered in raster order.
        count: the number of pieces (ids ``1..count``).
        sizes: ``(count + 1,)`` voxels per piece id (index 0: the label-0 voxels).
        owner: ``(count + 1,)`` int64 label of each piece id (0 for id 0).
        centroids: ``(count + 1, 3)`` voxel-index centroid of each piece id.
        extents: ``(count + 1, 6)`` inclusive ``(i0, i1, j0, j1, k0, k1)`` of each piece id.
    """

    pieces: np.ndarray
    count: int
    sizes: np.ndarray
    owner: np.ndarray
    centroids: np.ndarray
    extents: np.ndarray

    def box(self, piece: int) -> tuple[slice, slice, slice]:
        """The bounding box of piece ``piece`` as slices of the grid."""
        i0, i1, j0, j1, k0, k1 = (int(v) for v in self.extents[piece])
        return slice(i0, i1 + 1), slice(j0, j1 + 1), slice(k0, k1 + 1)


def checked_label_map(labels: np.ndarray) -> np.ndarray:
    """``labels`` as an array, after checking it is a 3D map of non-negative integers.

    Raises:
        InputError: another shape or dtype, or a negative label.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InputError(f"a label map must be 3D, got shape {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.dtype.itemsize > 8:
        raise InputError(f"labels must be an integer array, got {labels.dtype}")
    if labels.size and int(labels.min()) < 0:
        raise InputError("labels must not be negative")
    return labels


def label_components(labels: np.ndarray, connectivity: int = 26) -> LabelComponents:
    """Connected pieces of every non-zero label of ``labels`` (see the module docstring).

    Args:
        labels: ``(I, J, K)`` non-negative integer label map.
        connectivity: 6, 18 or 26 (26: voxels sharing a face, edge or corner join).

    Raises:
        InputError: a label map that is not a 3D array of non-negative integers.
    """
    import cc3d

    labels = checked_label_map(labels)
    pieces, count = cc3d.connected_components(labels, connectivity=connectivity, return_N=True,
                                              out_dtype=np.uint32)
    stats = cc3d.statistics(pieces, no_slice_conversion=True)
    owner = np.zeros(count + 1, np.int64)
    owner[pieces.ravel()] = labels.ravel()
    return LabelComponents(
        pieces=pieces, count=int(count),
        sizes=np.asarray(stats["voxel_counts"], dtype=np.int64)[:count + 1],
        owner=owner,
        centroids=np.asarray(stats["centroids"], dtype=np.float64)[:count + 1],
        extents=np.asarray(stats["bounding_boxes"], dtype=np.int64)[:count + 1],
    )
