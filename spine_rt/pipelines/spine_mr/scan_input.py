"""What a pipeline accepts as a scan: a path, an :class:`~spine_rt.io.Image`, or an array with its affine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io import Image, read_image


def as_image(scan: Any, affine: Any = None) -> Image:
    """The scan as an :class:`Image`.

    Args:
        scan: a NIfTI path or DICOM folder (``str`` / ``PathLike``), an
            :class:`Image`, or a 3D numpy array ``(I, J, K)``.
        affine: the 4x4 voxel -> RAS+ mm matrix of an array (required for
            arrays, refused for paths and Images, which carry their own).

    Raises:
        InputError: a missing or unreadable file, an array without affine,
            an affine given twice, an array that is not a finite 3D volume
            (one line each).
    """
    if isinstance(scan, Image):
        if affine is not None:
            raise InputError("an Image carries its own affine; do not pass affine= with it")
        return scan
    if isinstance(scan, (str, os.PathLike)):
        if affine is not None:
            raise InputError(f"{scan}: a file carries its own affine; do not pass affine= with a path")
        return read_image(Path(scan))
    if isinstance(scan, np.ndarray):
        if affine is None:
            raise InputError(
                f"an array of shape {scan.shape} needs its affine (4x4 voxel -> RAS+ mm): pipe(array, affine=...)"
            )
        return Image(scan, np.asarray(affine, dtype=np.float64))
    raise InputError(f"cannot segment a {type(scan).__name__}; pass a file path, a spine_rt.io.Image or a numpy array")
