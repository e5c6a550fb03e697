"""spine_rt.pipelines: the spine MR two-stage pipeline (SSHSNet).

* :func:`load_pipeline` (also ``spine_rt.load_pipeline``) - a model package
  -> a :class:`SpineMrPipeline`; :func:`pipeline_from_modules` - torch networks
  -> a pipeline.
* :class:`SpineMrPipeline` - ``pipe(scan) -> Result`` (labels in the scan's geometry).
* :class:`Result` - labels, affine, report, optional probabilities, ``save``.

Importing this package needs numpy, scipy and nibabel only; torch and
onnxruntime are imported when runners are created.
"""

from __future__ import annotations

from spine_rt.pipelines.load import load_pipeline, pipeline_from_modules
from spine_rt.pipelines.preprocessing import MrPreprocessing, PreparedVolume
from spine_rt.pipelines.result import Result
from spine_rt.pipelines.spine_mr_pipeline import SCHEDULES, SpineMrPipeline
from spine_rt.pipelines.stage_runners import StageRunners

__all__ = [
    "MrPreprocessing",
    "PreparedVolume",
    "Result",
    "SCHEDULES",
    "SpineMrPipeline",
    "StageRunners",
    "load_pipeline",
    "pipeline_from_modules",
]
