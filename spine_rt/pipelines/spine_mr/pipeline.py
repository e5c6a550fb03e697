"""``SpineMrPipeline``: a sagittal spine MR in, SSHSNet labels in the scan's geometry out.

Construct once (runners loaded, options checked), call many times::

    pipe = spine_rt.load_pipeline("pkg/")
    result = pipe("scan.nii.gz")           # or pipe(image) / pipe(array, affine=...)
    result.labels, result.affine, result.report; result.save("seg.nii.gz")

A call: read -> preprocess (:mod:`~spine_rt.pipelines.spine_mr.preprocessing`) ->
schedule (``"fast"``: :mod:`~spine_rt.pipelines.schedules.fast` on numpy
arrays, or on the runners' device with one or two CUDA streams, see
:mod:`~spine_rt.pipelines.schedules.lanes`; or ``"reference"``:
:mod:`~spine_rt.pipelines.schedules.reference`), optionally
with mirroring TTA -> argmax -> exact inverse of the preprocessing -> report.

Thread safety: one pipeline may be called from several threads. The
network part of a call (both stages, TTA included) holds an internal lock,
so the runners are never used by two calls at once; reading, preprocessing,
the inverse and the report of one call overlap the networks of another.
Calls give the same result whether made from one thread or several. For
networks running in parallel, create one pipeline per thread (or device).
A call is :meth:`SpineMrPipeline.prepare` (read + preprocess, no lock)
followed by :meth:`SpineMrPipeline.segment` (networks under the lock,
inverse, report); :func:`~spine_rt.pipelines.cohort.segment_cohort` uses the
split to read ahead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.io import Image
from spine_rt.pipelines.schedules.fast import FastSchedule
from spine_rt.pipelines.schedules.lanes import choose_pipelining
from spine_rt.pipelines.schedules.prediction import MIRROR_AXES, GridPrediction, predict_with_mirroring
from spine_rt.pipelines.spine_mr.scan_input import as_image
from spine_rt.pipelines.options import SCHEDULES, PipelineOptions
from spine_rt.pipelines.plausibility import check_mr_geometry
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing, PreparedVolume
from spine_rt.pipelines.schedules.reference import ReferenceSchedule, ReferenceWindows
from spine_rt.pipelines.schedules.stage_one import choose_maps_dtype
from spine_rt.pipelines.spine_mr.result import Result
from spine_rt.pipelines.stage_runners import StageRunners, pair_folds
from spine_rt.measure.structure_sizes import structures_found
from spine_rt.measure.spine_reading import SpineReading, read_spine

__all__ = ["SCHEDULES", "PreparedScan", "SpineMrPipeline"]
_AXIS_NAMES = {0: "superior-inferior", 1: "anterior-posterior", 2: "left-right"}


@dataclass(frozen=True, eq=False)
class PreparedScan:
    """A scan read and preprocessed, waiting for the networks (see :meth:`SpineMrPipeline.prepare`).

    Attributes:
        image: the input as read.
        volume: the network volume and the way back to the input's grid.
        seconds: time spent reading and preprocessing (s).
    """

    image: Image
    volume: PreparedVolume
    seconds: dict[str, float]


class SpineMrPipeline:
    """The two-stage spine MR pipeline (see the module docstring).

    Args:
        stage_one / stage_two: the runners of both stages.
        options: schedule, ROI, TTA, batch sizes, overlap, pipelining, host
            threads and level relabelling, defaults filled in
            (:class:`~spine_rt.pipelines.options.PipelineOptions`; ``None``: all defaults).
        preprocessing: spacing, axes and normalisation numbers.
        labels: label id -> structure name.
        backend_reason: why the backend was chosen (for the report).

    Raises:
        InputError: folds of the two stages that cannot be paired.
    """

    def __init__(
        self,
        stage_one: StageRunners,
        stage_two: StageRunners,
        options: PipelineOptions | None = None,
        *,
        preprocessing: MrPreprocessing | None = None,
        labels: Mapping[int, str] | None = None,
        backend_reason: str = "",
    ) -> None:
        options = PipelineOptions() if options is None else options
        self.options = options
        self.relabel_levels = options.relabel_levels
        self.host_threads = options.host_threads
        schedule = options.schedule
        pair_folds(stage_one, stage_two)  # fold pairing problems surface now, not on the first scan
        self.stage_one = stage_one
        self.stage_two = stage_two
        self.preprocessing = preprocessing if preprocessing is not None else MrPreprocessing()
        self.labels = dict(labels) if labels is not None else {}
        self.tta = options.tta
        self.backend_reason = backend_reason
        factor = self.preprocessing.resolution_factor
        self.pipelining = choose_pipelining(options.pipelining, schedule, stage_one, stage_two)
        if schedule == "fast":
            mode = self.pipelining.mode
            self.schedule: FastSchedule | ReferenceSchedule = FastSchedule(
                stage_one=stage_one,
                stage_two=stage_two,
                resolution_factor=factor,
                stage_one_spacing_mm=self.preprocessing.stage_one_grid_spacing_mm,
                stage_one_batch_size=options.stage_one_batch_size,
                stage_two_batch_size=options.batch_size,
                roi=options.roi,
                roi_margin_mm=options.roi_margin_mm,
                overlap=options.overlap,
                host_threads=self.host_threads,
                device=None if mode == "off" else stage_two.device,
                lanes=2 if mode == "two-stream" else 1,
                maps_dtype=choose_maps_dtype(options.maps_dtype, stage_two.precision),
            )
        else:
            windows = ReferenceWindows.for_patches(stage_one.patch_size, stage_two.patch_size, factor)
            windows = ReferenceWindows(windows.outer_window, windows.outer_stride, windows.inner_stride,
                                       options.batch_size)
            self.schedule = ReferenceSchedule(stage_one, stage_two, factor, windows, self.host_threads,
                                              self.preprocessing.stage_one_upsampling)
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ calls
    def __call__(self, scan: Any, affine: Any = None, *, return_probabilities: bool = False) -> Result:
        """Segment one scan: :meth:`prepare` then :meth:`segment`.

        Args:
            scan: a NIfTI path or DICOM folder, an :class:`~spine_rt.io.Image`,
                or a 3D array ``(I, J, K)`` (then ``affine`` is required).
            affine: 4x4 voxel -> RAS+ mm matrix of an array.
            return_probabilities: also return ``(C, I, J, K)`` probabilities.

        Returns:
            :class:`~spine_rt.pipelines.spine_mr.result.Result` with labels on the input's grid.

        Raises:
            InputError: a bad scan (missing file, not 3D, NaN voxels, no affine,
                an empty image), or a closed pipeline.
            EnvironmentProblem: a backend failing on this machine.
        """
        prepared = self.prepare(scan, affine)
        with self._lock:  # as segment(), written out: the schedule's runner calls stay few frames deep
            self._check_open()
            if self.tta:
                prediction = predict_with_mirroring(self.schedule.predict, prepared.volume.volume, MIRROR_AXES)
            else:
                prediction = self.schedule.predict(prepared.volume.volume, keep_probabilities=return_probabilities)
        return self._result(prepared, prediction, return_probabilities)

    def prepare(self, scan: Any, affine: Any = None) -> PreparedScan:
        """Read and preprocess ``scan`` (no network runs; safe in any thread, without the lock).

        Raises:
            InputError: as :meth:`__call__`.
        """
        self._check_open()
        clock = time.perf_counter()
        image = as_image(scan, affine)
        read = time.perf_counter() - clock
        # before resampling: the model grid's size is bounded by a plausible field of view, not by the input
        check_mr_geometry(image.shape, image.spacing, self.preprocessing.spacing_mm)
        clock = time.perf_counter()
        prepared = self.preprocessing.prepare(image, self.schedule.size_multiple, self.schedule.minimum_shape)
        return PreparedScan(image, prepared, {"read": read, "preprocessing": time.perf_counter() - clock})

    def segment(self, scan: PreparedScan, *, return_probabilities: bool = False) -> Result:
        """Run the networks on a prepared scan (under the lock) and bring the labels back to its grid.

        Raises:
            InputError: a closed pipeline.
        """
        self._check_open()
        with self._lock:
            self._check_open()
            if self.tta:
                prediction = predict_with_mirroring(self.schedule.predict, scan.volume.volume, MIRROR_AXES)
            else:
                prediction = self.schedule.predict(scan.volume.volume, keep_probabilities=return_probabilities)
        return self._result(scan, prediction, return_probabilities)

    def _result(self, scan: PreparedScan, prediction: GridPrediction, return_probabilities: bool) -> Result:
        """The labels (and probabilities) of ``prediction`` on the scan's grid, the spine reading and the report."""
        seconds = dict(scan.seconds)
        seconds.update(prediction.seconds)

        clock = time.perf_counter()
        labels = scan.volume.labels_to_input(prediction.label_map())
        probabilities = None
        if return_probabilities:
            probabilities = scan.volume.probabilities_to_input(prediction.probabilities)
        seconds["postprocessing"] = time.perf_counter() - clock
        image = scan.image
        reading = read_spine(labels, image.affine, self.labels, probabilities, self.relabel_levels)
        labels = reading.labels
        seconds.update(reading.seconds)
        seconds["total"] = sum(seconds.values())

        report = self._report(image, scan.volume, prediction.counts, seconds, labels, reading)
        # the input's geometry, header and source for Result.save, without keeping its voxels alive
        geometry = Image(np.broadcast_to(np.zeros((), np.uint8), image.shape), image.affine, source=image.source,
                         header=image.header, meta=image.meta)
        return Result(labels=labels, affine=image.affine.copy(), report=report, probabilities=probabilities,
                      image=geometry, measurements=reading.measurements)

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("this pipeline is closed; load a new one")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Release the runners (idempotent)."""
        with self._lock:
            if not self._closed:
                self.stage_one.close()
                self.stage_two.close()
                self._closed = True

    def __enter__(self) -> SpineMrPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ description
    def settings(self) -> dict[str, Any]:
        """The options this pipeline runs with (also in every report)."""
        schedule = self.schedule
        settings: dict[str, Any] = {
            "schedule": schedule.name,
            "backend": self.stage_two.backend,
            "backend_reason": self.backend_reason,
            "device": self.stage_two.device,
            "precision": self.stage_two.precision,
            "stages": {"stage1": self.stage_one.describe(), "stage2": self.stage_two.describe()},
            "tta": self.tta,
            "tta_mirror_axes": [_AXIS_NAMES[a] for a in MIRROR_AXES] if self.tta else [],
            "pipelining": self.pipelining.mode,
            "pipelining_reason": self.pipelining.reason,
            "host_threads": self.host_threads,
            "relabel_levels": self.relabel_levels,
        }
        if isinstance(schedule, FastSchedule):
            settings.update({
                "roi": schedule.roi,
                "roi_margin_mm": schedule.roi_margin_mm,
                "overlap": schedule.overlap,
                "maps_dtype": schedule.maps_dtype,
                "batch_size": {"stage1": schedule.stage_one_batch_size, "stage2": schedule.stage_two_batch_size},
            })
        else:
            windows = schedule.windows
            settings.update({
                "roi": False,
                "outer_window": list(windows.outer_window),
                "outer_stride": list(windows.outer_stride),
                "inner_stride": list(windows.inner_stride),
                "batch_size": {"stage1": windows.outer_window[2], "stage2": windows.batch_size},
            })
        # how stage one's maps reach stage two's grids: the fast schedules always sample linearly
        settings["stage_one_upsampling"] = getattr(schedule, "stage_one_upsampling", "linear")
        return settings

    def _report(self, image: Image, prepared: PreparedVolume, counts: dict[str, int], seconds: dict[str, float],
                labels: np.ndarray, reading: SpineReading) -> dict[str, Any]:
        report = self.settings()
        report["stage_two_patches"] = {
            "run": counts.get("stage_two_patches_run", 0),
            "total": counts.get("stage_two_patches_total", 0),
        }
        report["counts"] = dict(counts)
        report["seconds"] = {k: round(v, 6) for k, v in seconds.items()}
        report["input"] = {
            "shape": list(image.shape),
            "spacing_mm": [round(s, 6) for s in image.spacing],
            "orientation": "".join(image.orientation),
            "source": str(image.source) if image.source is not None else None,
            "warnings": check_mr_geometry(image.shape, image.spacing, self.preprocessing.spacing_mm),
        }
        report["preprocessing"] = prepared.describe()
        report["structures"] = structures_found(labels, image.spacing, self.labels)
        report["level_naming"] = reading.level_naming
        report["measurements"] = reading.measurements.as_dict()
        return report

    def __repr__(self) -> str:
        return (f"SpineMrPipeline(schedule={self.schedule.name!r}, backend={self.stage_two.backend!r}, "
                f"device={self.stage_two.device!r}, folds={list(self.stage_two.folds)})")
