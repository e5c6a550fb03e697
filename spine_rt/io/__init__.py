"""spine_rt.io: images and geometry.

* :class:`Image` - a 3D voxel array ``(I, J, K)`` with its RAS+ affine (mm),
  spacing, orientation codes, source path and header.
* :func:`read_image` - NIfTI (``.nii``, ``.nii.gz``) or a DICOM series folder.
* :class:`GridTransform` - reorient to a model's axis codes and resample to
  its spacing (``forward``), and the exact way back (``inverse``).
* :func:`save_labels`, :func:`save_image` - atomic NIfTI writes in the
  input's geometry.

Importing this package needs numpy, nibabel, pydicom and scipy only.
"""

from __future__ import annotations

from spine_rt.io.dicom import read_dicom_series
from spine_rt.io.grid_transform import GridTransform
from spine_rt.io.image import AxisCodes, Image, orientation_codes, voxel_spacing
from spine_rt.io.nifti import read_nifti
from spine_rt.io.orientation import MR_MODEL_AXES, AxisReorientation, parse_axis_codes
from spine_rt.io.read import read_image
from spine_rt.io.resample import Interpolation, SpacingResample
from spine_rt.io.write import save_image, save_labels
from spine_rt.io.xray_image import XrayImage, read_xray_image

__all__ = [
    "AxisCodes",
    "AxisReorientation",
    "GridTransform",
    "Image",
    "Interpolation",
    "MR_MODEL_AXES",
    "SpacingResample",
    "orientation_codes",
    "parse_axis_codes",
    "read_dicom_series",
    "read_image",
    "read_nifti",
    "save_image",
    "save_labels",
    "voxel_spacing",
    "XrayImage",
    "read_xray_image",
]
