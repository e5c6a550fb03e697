"""``Result``: the segmentation of one scan, in the scan's own geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.io import Image, save_labels


@dataclass(frozen=True, eq=False)
class Result:
    """What a pipeline call returns.

    Attributes:
        labels: ``(I, J, K)`` uint8 label map with exactly the input's shape.
        affine: the input's 4x4 voxel -> RAS+ mm affine (the labels lie on it).
        report: plain facts: backend and why, device, schedule, stage-two
            patches run / total, seconds per step, structures found with voxel
            counts and volumes (mm3), the preprocessing used.
        probabilities: ``(C, I, J, K)`` float32 on the input grid when asked
            for (``return_probabilities=True``), else None.
        image: the input's geometry, header and source file (what :meth:`save`
            writes and refuses to overwrite); its array is a zero-size-in-memory
            placeholder of the input's shape, not the input's voxels.
        measurements: spine MR: :class:`~spine_rt.measure.measurement_values.SpineMeasurements`
            (heights, angles, ratios, volumes; also in ``report["measurements"]``), else None.
    """

    labels: np.ndarray
    affine: np.ndarray
    report: dict[str, Any]
    probabilities: np.ndarray | None = None
    image: Image | None = field(default=None, repr=False)
    measurements: Any = field(default=None, repr=False)

    def save(self, path: str | Path) -> Path:
        """Write the labels as NIfTI in the input's geometry, atomically (see :func:`spine_rt.io.save_labels`).

        Returns:
            the written path.

        Raises:
            InputError: a bad destination (wrong suffix, missing folder) or the input file itself.
        """
        like = self.image if self.image is not None else Image(self.labels, self.affine)
        return save_labels(self.labels, like, path)

    def __repr__(self) -> str:
        found = ", ".join(s["name"] for s in self.report.get("structures", [])) or "none"
        return f"Result(labels={self.labels.shape}, structures: {found})"
