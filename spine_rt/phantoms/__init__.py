"""Synthetic spines with exact ground truth (numpy + scipy only).

* :func:`spine_mr` -> :class:`SpinePhantom`: a sagittal T2 spine MR volume,
  axes ``(X, Y, Z)`` = (left -> right, superior -> inferior, anterior ->
  posterior), RAS+ affine with axis codes ``("R", "I", "P")``, and the 19
  MRSpineSeg structures labelled (:data:`MRSPINESEG_LABELS`);
  :func:`true_geometry` (or ``phantom.true_geometry()``) gives its exact
  vertebral and disc heights, endplate angles and lordosis.
* :func:`lumbar_xray` -> :class:`LumbarXray`: a lateral lumbar X-ray with
  the 5-class BiLuNet mask (:data:`XRAY_CLASSES`), the endplates, femoral
  heads and hip axis in pixels, and the 18 inspection values
  (:class:`LumbarParameters`) implied exactly by that geometry.

The angle definitions live in :mod:`spine_rt.phantoms.xray_geometry`.
"""

from __future__ import annotations

from spine_rt.phantoms.lumbar_xray import XRAY_CLASSES, LumbarXray, lumbar_xray
from spine_rt.phantoms.mrspineseg_labels import MRSPINESEG_LABELS
from spine_rt.phantoms.pelvis_shape import FemoralHead
from spine_rt.phantoms.spine_mr import SpinePhantom, spine_mr
from spine_rt.phantoms.spine_shape import Endplate, SpineShape
from spine_rt.phantoms.spine_truth import true_geometry
from spine_rt.phantoms.xray_geometry import MBNET_PARAMETER_ORDER, LumbarParameters, lumbar_parameters

__all__ = [
    "spine_mr",
    "SpinePhantom",
    "MRSPINESEG_LABELS",
    "lumbar_xray",
    "LumbarXray",
    "XRAY_CLASSES",
    "LumbarParameters",
    "MBNET_PARAMETER_ORDER",
    "lumbar_parameters",
    "Endplate",
    "FemoralHead",
    "SpineShape",
    "true_geometry",
]
