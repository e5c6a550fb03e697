"""Synthetic training scans: spine MR phantoms drawn directly on the training grid.

Each phantom (:func:`spine_rt.phantoms.spine_mr`) is generated at the model
spacing, so the preprocessing only reorients it (phantom axes ``(X, Y, Z)`` =
(L->R, S->I, A->P), codes ``R, I, P``; model axes ``I, P, R``). Its labels
are MRSpineSeg ids; with another label set they are mapped by structure name
(:func:`spine_rt.anatomy.label_maps.lookup_by_name`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.anatomy.label_tables import MR_SPINE_LABELS
from spine_rt.phantoms import spine_mr

#: the largest phantom spacing spine_mr draws (mm): between slices, in-plane
_MAX_SLICE_MM = 20.0
_MAX_IN_PLANE_MM = 8.0


@dataclass(frozen=True, eq=False)
class PhantomScan:
    """One phantom as an image and a label map on the same grid (MRSpineSeg ids)."""

    name: str
    image: Image
    labels: Image


def phantom_scans(count: int, seed: int, spacing_mm: Sequence[float]) -> list[PhantomScan]:
    """``count`` phantoms drawn with seeds ``seed, seed + 1, ...`` at ``spacing_mm``.

    Args:
        count: how many (>= 1).
        seed: the first phantom's seed.
        spacing_mm: voxel size along the model axes ``(X, Y, Z)`` = (S->I, A->P, slices).

    Raises:
        InputError: count < 1, or a spacing spine_mr cannot draw (more than 20 mm
            between slices or 8 mm in-plane).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the number of phantoms must be a positive integer, got {count!r}")
    along_si, along_ap, between_slices = (float(s) for s in spacing_mm)
    if between_slices > _MAX_SLICE_MM or max(along_si, along_ap) > _MAX_IN_PLANE_MM:
        raise InputError(f"phantoms cannot be drawn at {tuple(spacing_mm)} mm (at most {_MAX_IN_PLANE_MM} mm "
                         f"in-plane and {_MAX_SLICE_MM} mm between slices)")
    scans = []
    for index in range(count):
        phantom = spine_mr(seed + index, spacing=(between_slices, along_si, along_ap))
        name = f"phantom_{seed + index:04d}"
        scans.append(PhantomScan(name, Image(phantom.image, phantom.affine), Image(phantom.labels, phantom.affine)))
    return scans


PHANTOM_LABELS: dict[int, str] = dict(MR_SPINE_LABELS)
