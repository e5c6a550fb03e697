"""Synthetic spines with exact ground truth (numpy + scipy only).

* :func:`spine_mr` -> :class:`SpinePhantom`: a sagittal T2 spine MR volume,
  axes ``(X, Y, Z)`` = (left -> right, superior -> inferior, anterior ->
  posterior), RAS+ affine with axis codes ``("R", "I", "P")``, and the 19
  MRSpineSeg structures labelled
  (:data:`spine_rt.anatomy.label_tables.MR_SPINE_LABELS`);
  :func:`true_geometry` (or ``phantom.true_geometry()``) gives its exact
  vertebral and disc heights, endplate angles and lordosis.
* :func:`lumbar_xray` -> :class:`LumbarXray`: a lateral lumbar X-ray with
  the 5-class BiLuNet mask (:data:`spine_rt.anatomy.label_tables.XRAY_LABELS`),
  the endplates, femoral heads and hip axis in pixels, and the 18 inspection
  values (:class:`spine_rt.anatomy.lumbar_parameters.LumbarParameters`)
  implied exactly by that geometry.

The angle definitions and label tables live in :mod:`spine_rt.anatomy`.
"""

from __future__ import annotations

from spine_rt.phantoms.lumbar_xray import LumbarXray, lumbar_xray
from spine_rt.phantoms.pelvis_shape import FemoralHead
from spine_rt.phantoms.spine_mr import SpinePhantom, spine_mr
from spine_rt.phantoms.spine_shape import SpineShape
from spine_rt.phantoms.spine_truth import true_geometry

__all__ = [
    "spine_mr",
    "SpinePhantom",
    "lumbar_xray",
    "LumbarXray",
    "FemoralHead",
    "SpineShape",
    "true_geometry",
]
