"""Baseline (a): the authors' inference schedule (SEEDS.md), torch eager FP32, the package's weights.

Outer windows 512 x 1024 x 12 with stride 100/100/6, stage one re-run for
every outer window, 60 stage-two patches 192 x 192 x 12 per window (stride
81/81/1) in batches of 20, uniform averaging, no ROI
(:mod:`spine_rt.pipelines.schedules.reference`). The networks are the
package's torch weights run eagerly in FP32, as the authors ran them.
"""

from __future__ import annotations

import os

from spine_rt.bench.pipeline_segmenter import PipelineSegmenter

NAME = "authors' schedule (torch fp32)"


def reference_baseline(package: str | os.PathLike[str], device: str = "cpu") -> PipelineSegmenter:
    """The authors' schedule on ``package``'s torch weights, FP32, on ``device``.

    Raises:
        InputError: not a spine MR package, or one without torch weights.
        EnvironmentProblem: torch is not installed or ``device`` is not visible.
    """
    from spine_rt.pipelines import load_pipeline

    pipeline = load_pipeline(package, backend="torch", device=device, schedule="reference", precision="fp32")
    return PipelineSegmenter(NAME, "baseline", pipeline)
