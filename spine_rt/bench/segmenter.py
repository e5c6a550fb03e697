"""What a benchmark measures: anything that segments a scan and says how long each stage took.

spine-rt's pipelines (:class:`~spine_rt.bench.pipeline_segmenter.PipelineSegmenter`)
and the baselines (the authors' schedule, MONAI) all meet this protocol, so
one measuring loop (:func:`~spine_rt.bench.configuration_measurement.measure`)
times them alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One segmented scan.

    Attributes:
        labels: label map on the input's grid ``(I, J, K)``.
        seconds: time per step of the call (s), e.g. ``preprocessing``,
            ``stage_one``, ``stage_two``, ``postprocessing``.
        stage_two_patches_run / stage_two_patches_total: stage-two patches
            that ran / that the schedule planned.
        counts: every count the segmenter reports (``stage_one_slices``,
            ``stage_one_windows_per_slice``, ``stage_two_calls``, ...).
    """

    labels: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    stage_two_patches_run: int = 0
    stage_two_patches_total: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Segmenter(Protocol):
    """A pipeline or baseline under measurement.

    Attributes:
        name: how tables name it (``"spine-rt fast (onnxruntime)"``).
        kind: ``"spine-rt"`` or ``"baseline"``.
    """

    name: str
    kind: str

    def segment(self, image: np.ndarray, affine: np.ndarray) -> Segmentation:
        """Segment a scan ``(I, J, K)`` with its 4x4 affine."""

    def runner_groups(self) -> dict[str, Iterable[Any]]:
        """Stage name -> the runners whose ``infer`` calls are the backend time."""

    def describe(self) -> dict[str, Any]:
        """Schedule, backend, device, precision and settings, for the report."""

    def close(self) -> None:
        """Release the runners."""
