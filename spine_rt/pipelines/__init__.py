"""spine_rt.pipelines: the spine MR two-stage pipeline (SSHSNet) and the X-ray pipeline (BiLuNet/MBNet).

* :func:`load_pipeline` (also ``spine_rt.load_pipeline``) - a model package
  -> a :class:`SpineMrPipeline` (task ``spine_mr``) or an :class:`XrayPipeline`
  (task ``xray``: labels, lumbar/pelvic angles, :class:`XrayResult`; see
  ``xray.pipeline``); :func:`pipeline_from_modules` - torch networks
  -> a pipeline.
* :class:`PipelineOptions` - every option of a pipeline, defaults filled in once (``load_pipeline`` makes it).
* :class:`SpineMrPipeline` - ``pipe(scan) -> Result`` (labels in the scan's geometry).
* :class:`Result` - labels, affine, report, optional probabilities, ``save``.
* :func:`run_cohort` - a folder of cases of either task (``spine-rt infer FOLDER``):
  skipping finished ones, failures recorded, ``summary.csv``;
  :func:`segment_cohort` - many scans, reading ahead while the networks run;
  :func:`scans_in_folder` - the scans of a folder.

Layout:

* ``spine_mr/`` - the spine MR task: ``preprocessing`` (resampling to the
  model grid, crop, padding, normalisation), ``pipeline`` (:class:`SpineMrPipeline`),
  ``result``, ``scan_input``.
* ``xray/`` - the X-ray task: ``preprocessing``, ``pipeline`` (:class:`XrayPipeline`),
  ``values`` (regressed lumbar values), ``result``.
* ``schedules/`` - how the MR networks are run over a volume: ``fast`` (the
  one slab loop, host or device) and its parts, ``reference`` (the authors'
  schedule, the baseline).
* here: ``load`` (one loader for both tasks), ``options`` (one frozen
  options object), ``runner_factory`` / ``stage_runners`` (one stage-runner
  factory), ``cohort`` / ``cohort_outputs`` (one cohort loop for both
  tasks), ``plausibility`` and ``bf16_gate`` (checks), ``default_model``.

Choices (each documented in its module):

* **Grids.** Model axes ``(X, Y, Z)`` = (S->I, A->P, L->R) at 0.3448 x
  0.3448 x 4.4 mm; stage one on ``f x f`` block means (``f = 2``, 0.69 mm);
  its probabilities (stride 2) and features (stride 8) are sampled linearly
  for each stage-two patch, never held at full resolution
  (``schedules.sampling``, ``schedules.maps``).
* **Padding** (``volume_padding``). After the in-plane crop to the non-zero
  extent the volume is padded with background, centred: in-plane to a
  multiple of 8 and every axis to at least one stage-two patch, so a scan
  with fewer slices than the patch gets empty slices on both sides (stage one
  runs on them too). Undone exactly before the inverse resampling.
* **Stage one** (``schedules.stage_one``): every slice once (a slice larger than
  the graph's static patch is tiled), fixed batches, all folds in one pass.
* **ROI** (``schedules.roi``): stage one's fold-mean foreground dilated by
  ``roi_margin_mm`` (default 20 mm, Euclidean on the 0.69 x 0.69 x 4.4 mm
  grid); stage two runs the windows touching it; none when stage one finds
  nothing.
* **Folds**: stage-two fold ``k`` gets stage-one fold ``k``'s maps (or the
  only stage-one fold); softmax outputs are averaged over folds per window.
* **Fusion** (``schedules.stage_two``): stage two's probabilities inside windows that ran,
  stage one's elsewhere; argmax.
* **TTA** (``schedules.prediction``): the anterior-posterior axis only (an upside-down
  spine would confuse the level labels).
* **One fast schedule** (``schedules.fast``): one slab loop over stage one
  and stage two, cut into slabs along ``X`` (``schedules.slabs``), on numpy
  arrays or with volume, maps, feeds, softmax and stitching as torch tensors
  on the runners' device; on a CUDA device stage one of slab ``k + 1`` may
  run on one stream while stage two of slab ``k`` runs on another
  (``schedules.lanes``, ``pipelining``). ``pipelining="auto"`` picks two
  streams for torch/TensorRT runners on CUDA, numpy arrays otherwise.
* **Reference schedule** (``schedules.reference``): the authors' schedule of
  SEEDS.md, for baselines.
* **Threads** (``spine_mr.pipeline``): one pipeline may be shared; an
  internal lock lets one call at a time use the networks, while reading,
  preprocessing and the inverse of other calls proceed (``prepare`` /
  ``segment`` split a call; ``segment_cohort`` reads ahead with them).

Importing this package needs numpy, scipy and nibabel only; torch and
onnxruntime are imported when runners are created.
"""

from __future__ import annotations

from spine_rt.pipelines.cohort import CohortItem, CohortRun, run_cohort, segment_cohort
from spine_rt.pipelines.cohort_outputs import scans_in_folder
from spine_rt.pipelines.load import load_pipeline, pipeline_from_modules
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing, PreparedVolume
from spine_rt.pipelines.spine_mr.result import Result
from spine_rt.pipelines.options import SCHEDULES, PipelineOptions
from spine_rt.pipelines.spine_mr.pipeline import SpineMrPipeline
from spine_rt.pipelines.stage_runners import StageRunners
from spine_rt.pipelines.xray.pipeline import XrayPipeline
from spine_rt.pipelines.xray.result import XrayResult

__all__ = [
    "CohortItem",
    "CohortRun",
    "MrPreprocessing",
    "PipelineOptions",
    "PreparedVolume",
    "Result",
    "SCHEDULES",
    "SpineMrPipeline",
    "StageRunners",
    "XrayPipeline",
    "XrayResult",
    "load_pipeline",
    "pipeline_from_modules",
    "run_cohort",
    "scans_in_folder",
    "segment_cohort",
]
