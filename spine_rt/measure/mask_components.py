"""Connected components of one class of a 2D label map, sorted top to bottom."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: components smaller than this fraction of the class's largest are dropped as specks
MIN_RELATIVE_AREA = 0.2


@dataclass(frozen=True, eq=False)
class MaskComponent:
    """One connected region: ``pixels`` ``(N, 2)`` pixel centres ``(column, row)``, its
    ``centroid`` ``(column, row)`` and ``area_px``."""

    pixels: np.ndarray
    centroid: tuple[float, float]

    @property
    def area_px(self) -> int:
        return len(self.pixels)


def class_components(labels: np.ndarray, label: int,
                     min_relative_area: float = MIN_RELATIVE_AREA) -> tuple[list[MaskComponent], int]:
    """The 4-connected components of ``labels == label`` sorted by centroid row (top first).

    Args:
        labels: ``(H, W)`` integer label map.
        label: the class.
        min_relative_area: components below this fraction of the largest one are dropped.

    Returns:
        ``(components, dropped)``: the kept components and how many specks were dropped.
    """
    found, count = ndimage.label(labels == label)
    if count == 0:
        return [], 0
    sizes = np.bincount(found.ravel(), minlength=count + 1)[1:]
    keep = np.flatnonzero(sizes >= min_relative_area * sizes.max()) + 1
    rows, cols = np.nonzero(found)
    owner = found[rows, cols]
    order = np.argsort(owner, kind="stable")
    rows, cols, owner = rows[order], cols[order], owner[order]
    starts = np.searchsorted(owner, np.arange(1, count + 2))
    components = []
    for index in keep:
        part = slice(starts[index - 1], starts[index])
        pixels = np.column_stack([cols[part], rows[part]]).astype(np.float64)
        components.append(MaskComponent(pixels, (float(pixels[:, 0].mean()), float(pixels[:, 1].mean()))))
    components.sort(key=lambda component: component.centroid[1])
    return components, int(count - len(keep))


def largest_component(labels: np.ndarray, label: int) -> MaskComponent | None:
    """The largest 4-connected component of ``labels == label``, or None when the class is absent."""
    components, _ = class_components(labels, label, min_relative_area=1.0)
    return components[0] if components else None


def outer_boundary(labels: np.ndarray, component: MaskComponent, foreign: tuple[int, ...] = ()) -> np.ndarray:
    """Pixels of ``component`` with a 4-neighbour outside it, ``(M, 2)`` ``(column, row)``.

    Pixels whose outside neighbours are only image border or classes in
    ``foreign`` are left out: there the region's true edge is hidden
    (cropped by the image, or overlapped by another structure).
    """
    height, width = labels.shape
    cols = component.pixels[:, 0].astype(np.int64)
    rows = component.pixels[:, 1].astype(np.int64)
    inside = np.zeros(labels.shape, dtype=bool)
    inside[rows, cols] = True
    padded_inside = np.pad(inside, 1, constant_values=False)
    # -1 marks "outside the image": never a visible edge
    padded_labels = np.pad(labels.astype(np.int64), 1, constant_values=-1)
    hidden = np.isin(padded_labels, np.asarray(foreign, np.int64)) | (padded_labels == -1)
    visible = np.zeros(len(rows), dtype=bool)
    for d_row, d_col in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows + 1 + d_row, cols + 1 + d_col
        visible |= ~padded_inside[r, c] & ~hidden[r, c]
    return component.pixels[visible]
