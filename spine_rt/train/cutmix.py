"""CutMix box masks for cross pseudo supervision (SEEDS: 3 boxes covering 25-50 % of the area).

A mask is drawn per unlabelled pair: a target share ``a ~ U(0.25, 0.5)`` of
the picture is split into 3 boxes of ``a/3`` of the area each, with a
random aspect ratio, placed at random without overlapping, so the union
covers ``a`` up to the rounding of box sides to whole pixels. Draws whose
rounded union falls outside the range are redrawn. Where the mask is true
the mixed image takes the second image, elsewhere the first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from spine_rt.errors import InputError

CUTMIX_BOXES = 3
CUTMIX_AREA = (0.25, 0.5)
#: box sides are drawn with height/width ratios in this range (then clipped to the picture)
ASPECT_RATIO_RANGE = (0.5, 2.0)
_MAX_DRAWS = 1000


def cutmix_box_mask(
    shape: Sequence[int],
    rng: np.random.Generator,
    boxes: int = CUTMIX_BOXES,
    area: Sequence[float] = CUTMIX_AREA,
) -> np.ndarray:
    """One ``(X, Y)`` bool mask of ``boxes`` disjoint boxes whose union covers a share in ``area``.

    Args:
        shape: the picture size ``(X, Y)`` in pixels.
        rng: the random generator (seeded by the recipe).
        boxes: number of boxes.
        area: ``(low, high)`` share of the picture the union covers.

    Raises:
        InputError: a picture too small to hold such boxes (after many draws).
    """
    size_x, size_y = (int(n) for n in shape)
    low, high = (float(v) for v in area)
    total = size_x * size_y
    for _ in range(_MAX_DRAWS):
        share = rng.uniform(low, high)
        mask = np.zeros((size_x, size_y), bool)
        placed = 0
        for _box in range(boxes):
            box_area = share * total / boxes
            ratio = math.exp(rng.uniform(math.log(ASPECT_RATIO_RANGE[0]), math.log(ASPECT_RATIO_RANGE[1])))
            side_x = min(size_x, max(1, round(math.sqrt(box_area * ratio))))
            side_y = min(size_y, max(1, round(box_area / side_x)))
            for _attempt in range(20):
                x = int(rng.integers(0, size_x - side_x + 1))
                y = int(rng.integers(0, size_y - side_y + 1))
                if not mask[x:x + side_x, y:y + side_y].any():
                    mask[x:x + side_x, y:y + side_y] = True
                    placed += 1
                    break
        covered = mask.sum() / total
        if placed == boxes and low <= covered <= high:
            return mask
    raise InputError(f"cannot place {boxes} CutMix boxes covering {low:.0%}-{high:.0%} of a {size_x} x {size_y} picture")


def cutmix_masks(count: int, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """``(count, X, Y)`` bool masks, one per unlabelled pair."""
    return np.stack([cutmix_box_mask(shape, rng) for _ in range(count)])
