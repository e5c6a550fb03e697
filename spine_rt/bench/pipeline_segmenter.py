"""``PipelineSegmenter``: a :class:`~spine_rt.pipelines.SpineMrPipeline` seen as a :class:`Segmenter`.

Used for spine-rt's fast schedule on each backend and for the authors'
schedule (:mod:`spine_rt.bench.reference_baseline`), which is the same
pipeline class with ``schedule="reference"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from spine_rt.bench.segmenter import Segmentation
from spine_rt.pipelines import SpineMrPipeline

#: report entries of ``seconds`` that are not steps of the call
_NOT_A_STEP = frozenset({"total"})


class PipelineSegmenter:
    """Adapts ``pipeline(image, affine) -> Result`` to :class:`~spine_rt.bench.segmenter.Segmenter`.

    Args:
        name: table name.
        kind: ``"spine-rt"`` or ``"baseline"``.
        pipeline: the pipeline (closed by :meth:`close`).
    """

    def __init__(self, name: str, kind: str, pipeline: SpineMrPipeline) -> None:
        self.name = name
        self.kind = kind
        self.pipeline = pipeline

    def segment(self, image: np.ndarray, affine: np.ndarray) -> Segmentation:
        result = self.pipeline(image, affine)
        report = result.report
        patches = report.get("stage_two_patches", {})
        seconds = {k: float(v) for k, v in report.get("seconds", {}).items() if k not in _NOT_A_STEP}
        return Segmentation(result.labels, seconds, int(patches.get("run", 0)), int(patches.get("total", 0)),
                            dict(report.get("counts", {})))

    def runner_groups(self) -> dict[str, Iterable[Any]]:
        return {"stage1": self.pipeline.stage_one.runners, "stage2": self.pipeline.stage_two.runners}

    def describe(self) -> dict[str, Any]:
        settings = self.pipeline.settings()
        settings.pop("stages", None)
        return settings

    def close(self) -> None:
        self.pipeline.close()
