"""``PipelineOptions``: every option of a pipeline, defaults filled in once, frozen.

:func:`spine_rt.load_pipeline` makes one from what its caller gave (the CLI
passes ``None`` for every option the user did not give) and hands it to
:class:`~spine_rt.pipelines.spine_mr.pipeline.SpineMrPipeline` or
:class:`~spine_rt.pipelines.xray.pipeline.XrayPipeline`; nothing else fills
in a default. ``None`` for a field means "the default": construction
replaces it (schedule-dependent batch sizes included) and checks every
value, so an invalid option fails before any runner is made::

    PipelineOptions(schedule="reference").batch_size   # 20, the authors' batch
    PipelineOptions(overlap=1.5)                       # InputError: overlap must lie in [0, 1)

After loading, ``backend``, ``device`` and ``precision`` hold what was
chosen (``load_pipeline`` replaces the requested ones).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.measure.spine_reading import DEFAULT_RELABEL_LEVELS
from spine_rt.patching.grid import DEFAULT_OVERLAP
from spine_rt.pipelines.bf16_gate import BF16_GATE_MODES
from spine_rt.pipelines.schedules.host_threads import choose_host_threads
from spine_rt.pipelines.schedules.lanes import check_pipelining
from spine_rt.pipelines.schedules.reference import PAPER_BATCH_SIZE
from spine_rt.pipelines.schedules.roi import DEFAULT_ROI_MARGIN_MM
from spine_rt.pipelines.schedules.stage_one import AUTO_MAPS_DTYPE, MAPS_DTYPES

SCHEDULES: tuple[str, ...] = ("fast", "reference")
#: default windows per call of the fast schedule
DEFAULT_STAGE_ONE_BATCH_SIZE = 8
DEFAULT_STAGE_TWO_BATCH_SIZE = 4
#: the options that only a spine MR pipeline has
MR_ONLY = ("schedule", "roi", "roi_margin_mm", "overlap", "batch_size", "stage_one_batch_size", "pipelining",
           "host_threads", "relabel_levels", "maps_dtype")


@dataclass(frozen=True)
class PipelineOptions:
    """The options of one pipeline (``None``: the default, filled in on construction).

    Attributes:
        backend: ``"auto"`` (default), ``"tensorrt"``, ``"onnxruntime"``, ``"torch"``,
            ``"openvino"`` or ``"triton"``; after loading, the backend chosen.
        device: ``None`` (best available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
            after loading, the device chosen.
        precision: ``"fp32"`` / ``"fp16"`` / ``"bf16"``; ``None``: fp32 on the CPU,
            fp16 on CUDA when the package has it; after loading, the precision chosen.
        folds: stage-two folds to use (``None``: all); stage one follows, or its only fold.
        verify: check every package file's sha256 on opening (default on).
        tta: mirroring test-time augmentation (MR: anterior-posterior; X-ray: left-right); default off.
        schedule: spine MR: ``"fast"`` (default) or ``"reference"`` (the authors', SEEDS.md).
        roi: fast schedule: stage two only near stage one's foreground (default on).
        roi_margin_mm: ROI dilation in mm (default 20).
        overlap: overlap of the fast schedule's stage-two windows, in ``[0, 1)`` (default 0.5).
        batch_size: stage-two windows per call (default 4; reference schedule 20).
        stage_one_batch_size: stage-one slices per call (default 8; the reference
            schedule keeps ``None``: one outer window, the stage-two patch depth).
        pipelining: ``"auto"`` (default), ``"two-stream"``, ``"sequential"`` or ``"off"``
            (:mod:`~spine_rt.pipelines.schedules.lanes`).
        host_threads: host schedules: stage two's input building and blending on
            worker threads; default on when more than one CPU core is usable.
        relabel_levels: rewrite level names that disagree with the count from the sacrum (default off).
        maps_dtype: fast schedule: the dtype stage one's maps are held in, ``"float16"`` or
            ``"float32"``; ``"auto"`` (default): float16 when the networks run in fp16/bf16, float32
            (exact) in fp32 (:func:`~spine_rt.pipelines.schedules.stage_one.choose_maps_dtype`).
        bf16_gate: ``"refuse"`` (default: bf16 that changes too many labels is refused) or ``"report"``
            (benchmarks: timed anyway, the verdict on each runner; :mod:`~spine_rt.pipelines.bf16_gate`).

    Raises:
        InputError: an invalid value (one line naming the valid ones).
    """

    backend: str | None = None
    device: str | None = None
    precision: str | None = None
    folds: tuple[int, ...] | None = None
    verify: bool | None = None
    tta: bool | None = None
    schedule: str | None = None
    roi: bool | None = None
    roi_margin_mm: float | None = None
    overlap: float | None = None
    batch_size: int | None = None
    stage_one_batch_size: int | None = None
    pipelining: str | None = None
    host_threads: bool | None = None
    relabel_levels: bool | None = None
    maps_dtype: str | None = None
    bf16_gate: str | None = None

    def __post_init__(self) -> None:
        schedule = "fast" if self.schedule is None else self.schedule
        if schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
        fast = schedule == "fast"
        if not fast and self.tta:
            raise InputError("the reference schedule reproduces the authors' inference, which has no TTA; "
                             "use schedule='fast' with tta=True")
        margin = DEFAULT_ROI_MARGIN_MM if self.roi_margin_mm is None else _number(self.roi_margin_mm, "roi_margin_mm")
        if margin < 0:
            raise InputError(f"roi_margin_mm must be >= 0 mm, got {self.roi_margin_mm!r}")
        overlap = DEFAULT_OVERLAP if self.overlap is None else _number(self.overlap, "overlap")
        if not 0 <= overlap < 1:
            raise InputError(f"overlap must lie in [0, 1), got {self.overlap!r}")
        maps_dtype = AUTO_MAPS_DTYPE if self.maps_dtype is None else self.maps_dtype
        if maps_dtype != AUTO_MAPS_DTYPE and maps_dtype not in MAPS_DTYPES:
            raise InputError(f"unknown maps_dtype {maps_dtype!r}; valid: {AUTO_MAPS_DTYPE}, {', '.join(MAPS_DTYPES)}")
        bf16_gate = "refuse" if self.bf16_gate is None else self.bf16_gate
        if bf16_gate not in BF16_GATE_MODES:
            raise InputError(f"unknown bf16_gate {bf16_gate!r}; valid: {', '.join(BF16_GATE_MODES)}")
        resolved = {
            "backend": "auto" if self.backend is None else self.backend,
            "folds": None if self.folds is None else tuple(int(f) for f in self.folds),
            "verify": True if self.verify is None else bool(self.verify),
            "tta": bool(self.tta),
            "schedule": schedule,
            "roi": True if self.roi is None else bool(self.roi),
            "roi_margin_mm": margin,
            "overlap": overlap,
            "batch_size": _batch(self.batch_size, DEFAULT_STAGE_TWO_BATCH_SIZE if fast else PAPER_BATCH_SIZE,
                                 "batch_size"),
            "stage_one_batch_size": (_batch(self.stage_one_batch_size, DEFAULT_STAGE_ONE_BATCH_SIZE,
                                            "stage_one_batch_size") if fast else None),
            "pipelining": check_pipelining("auto" if self.pipelining is None else self.pipelining),
            "host_threads": choose_host_threads(self.host_threads),
            "relabel_levels": DEFAULT_RELABEL_LEVELS if self.relabel_levels is None else bool(self.relabel_levels),
            "maps_dtype": maps_dtype,
            "bf16_gate": bf16_gate,
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> PipelineOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def stage_batches(self, stage_two_patch: tuple[int, ...]) -> tuple[int, int]:
        """``(stage one, stage two)`` windows per call; the reference schedule runs stage one on the
        slices of one outer window (the stage-two patch depth ``Z``) per call."""
        stage_one = self.stage_one_batch_size if self.stage_one_batch_size is not None else int(stage_two_patch[2])
        return stage_one, int(self.batch_size)  # type: ignore[arg-type]


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{what} must be finite, got {value!r}")
    return number


def _batch(value: int | None, default: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
