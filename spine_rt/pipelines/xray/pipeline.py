"""``XrayPipeline``: a lateral lumbar X-ray in, BiLuNet/MBNet labels and lumbar/pelvic angles out.

Construct once, call many times::

    pipe = spine_rt.load_pipeline("xray_pkg/")     # a package whose manifest task is "xray"
    result = pipe("lateral.png")                   # or .jpg, a single-frame .dcm, an XrayImage, an array
    result.labels, result.report; result.save("lateral_seg.png")

A call: read (:func:`spine_rt.io.read_xray_image`) -> 8-bit grey -> RGB at
the network's size, /255 (:mod:`~spine_rt.pipelines.xray.preprocessing`)
-> the package's ``xray`` stage (every fold, softmax averaged; with TTA
also the left-right mirrored picture) -> argmax -> nearest-neighbour
resize to the input's size -> measurements on that label map
(:func:`spine_rt.measure.measure_lumbar_parameters`, in mm when the pixel
spacing is known) -> report, with MBNet's regressed values when the
network has them (:mod:`~spine_rt.pipelines.xray.values`).

Thread safety: the network part of a call holds an internal lock; reading,
preprocessing and measuring of other calls overlap it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.anatomy.xray_values import MinMaxScaling
from spine_rt.errors import InputError
from spine_rt.io.xray_image import XrayImage, check_pixel_spacing, read_xray_image
from spine_rt.measure import measure_lumbar_parameters, structures_found
from spine_rt.pipelines.options import PipelineOptions
from spine_rt.pipelines.plausibility import check_xray_geometry
from spine_rt.pipelines.stage_runners import StageRunners
from spine_rt.pipelines.xray.preprocessing import XrayPreprocessing, nearest_resize
from spine_rt.pipelines.xray.values import regressed_values_report
from spine_rt.pipelines.xray.result import XrayResult

#: graph output holding MBNet's 18 values
VALUES_OUTPUT = "inspection_values"


def as_xray_image(picture: Any, pixel_spacing_mm: Any = None) -> XrayImage:
    """What an :class:`XrayPipeline` call accepts, as an :class:`XrayImage`.

    Args:
        picture: a path (PNG, JPEG, single-frame DICOM), an :class:`XrayImage`, or an
            array ``(H, W)`` grey or ``(H, W, 3)`` RGB (RGB is averaged to grey).
        pixel_spacing_mm: ``(row, column)`` mm; overrides the file's, required by nothing.

    Raises:
        InputError: an unreadable file, an array of another shape, a bad spacing.
    """
    if isinstance(picture, XrayImage):
        image = picture
    elif isinstance(picture, (str, Path)) or hasattr(picture, "__fspath__"):
        image = read_xray_image(picture)
    elif isinstance(picture, np.ndarray):
        array = picture
        if array.ndim == 3 and array.shape[-1] in (3, 4):
            grey = array[..., :3].astype(np.float64).mean(axis=-1)
            array = np.round(grey).astype(np.uint8) if picture.dtype == np.uint8 else grey
        if array.ndim != 2:
            raise InputError(f"an X-ray array must be (H, W) or (H, W, 3), got shape {picture.shape}")
        image = XrayImage(array)
    else:
        raise InputError(f"cannot segment a {type(picture).__name__}; pass a file path, an XrayImage or an array")
    if pixel_spacing_mm is not None:
        image = XrayImage(image.pixels, check_pixel_spacing(pixel_spacing_mm), image.source, image.meta)
    return image


class XrayPipeline:
    """BiLuNet/MBNet on one X-ray at a time (see the module docstring).

    Args:
        runners: the ``xray`` stage's runners (one per fold); input ``image``
            ``(N, 3, h, w)``, outputs ``probabilities`` (BiLuNet) or
            ``segmentation`` + ``inspection_values`` (MBNet).
        labels: label id -> structure name.
        preprocessing: network size and value scaling of the pixels.
        value_scaling: MBNet's min-max scaling of the 18 values, or None (raw outputs reported).
        options: the pipeline's options (:class:`~spine_rt.pipelines.options.PipelineOptions`;
            ``options.tta``: also run the left-right mirrored picture and average).
        model: the package's model name (report).
        backend_reason: why the backend was chosen (report).
    """

    def __init__(
        self,
        runners: StageRunners,
        options: PipelineOptions | None = None,
        *,
        labels: Mapping[int, str] | None = None,
        preprocessing: XrayPreprocessing | None = None,
        value_scaling: MinMaxScaling | None = None,
        model: str = "",
        backend_reason: str = "",
    ) -> None:
        self.runners = runners
        self.labels = dict(labels) if labels is not None else {}
        self.preprocessing = preprocessing if preprocessing is not None else XrayPreprocessing()
        self.value_scaling = value_scaling
        self.options = PipelineOptions() if options is None else options
        self.tta = self.options.tta
        self.model = model
        self.backend_reason = backend_reason
        outputs = runners.output_names
        self.class_output = next((name for name in outputs if name != VALUES_OUTPUT), None)
        if self.class_output is None:
            raise InputError(f"stage {runners.name}: no class-probability output among {list(outputs)}")
        self.has_values = VALUES_OUTPUT in outputs
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, picture: Any, pixel_spacing_mm: Any = None, *, return_probabilities: bool = False,
                 measure: bool = True) -> XrayResult:
        """Segment and measure one X-ray.

        Args:
            picture: see :func:`as_xray_image`.
            pixel_spacing_mm: ``(row, column)`` mm, overriding the file's (None: the file's, if any).
            return_probabilities: also return ``(C, h, w)`` probabilities at the network's size.
            measure: fit landmarks and compute the lumbar/pelvic values.

        Raises:
            InputError: a bad picture, or a closed pipeline.
            EnvironmentProblem: the backend failing on this machine.
        """
        self._check_open()
        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        image = as_xray_image(picture, pixel_spacing_mm)
        check_xray_geometry(image.shape, image.pixel_spacing_mm)
        seconds["read"] = time.perf_counter() - clock

        clock = time.perf_counter()
        feed = self.preprocessing.network_input(image.pixels)
        seconds["preprocessing"] = time.perf_counter() - clock

        clock = time.perf_counter()
        with self._lock:
            self._check_open()
            probabilities, raw_values = self._predict(feed)
            if self.tta:
                mirrored, mirrored_values = self._predict(np.ascontiguousarray(feed[..., ::-1]))
                probabilities = 0.5 * (probabilities + mirrored[..., ::-1])
                if raw_values is not None and mirrored_values is not None:
                    raw_values = 0.5 * (raw_values + mirrored_values)
        seconds["network"] = time.perf_counter() - clock

        clock = time.perf_counter()
        small = np.argmax(probabilities, axis=0).astype(np.uint8)
        labels = nearest_resize(small, image.shape)
        seconds["postprocessing"] = time.perf_counter() - clock

        measurement = None
        if measure:
            clock = time.perf_counter()
            measurement = measure_lumbar_parameters(labels, image.pixel_spacing_mm)
            seconds["measurement"] = time.perf_counter() - clock
        seconds["total"] = sum(seconds.values())

        report = self._report(image, labels, seconds, measurement, raw_values)
        return XrayResult(labels=labels, report=report, measurement=measurement,
                          pixel_spacing_mm=image.pixel_spacing_mm,
                          probabilities=probabilities.astype(np.float32) if return_probabilities else None,
                          source=image.source)

    def _predict(self, feed: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Fold-mean ``(C, h, w)`` probabilities and ``(18,)`` raw values (or None)."""
        input_name = self.runners.input_names[0]
        probabilities, values = [], []
        for runner in self.runners.runners:
            outputs = runner.infer({input_name: feed})
            probabilities.append(np.asarray(outputs[self.class_output], np.float32)[0])
            if self.has_values:
                values.append(np.asarray(outputs[VALUES_OUTPUT], np.float64).reshape(-1))
        mean_values = np.mean(values, axis=0) if values else None
        return np.mean(probabilities, axis=0), mean_values

    def _report(self, image: XrayImage, labels: np.ndarray, seconds: dict[str, float], measurement,
                raw_values: np.ndarray | None) -> dict[str, Any]:
        report = self.settings()
        report["input"] = {
            "shape": list(image.shape),
            "pixel_spacing_mm": list(image.pixel_spacing_mm) if image.pixel_spacing_mm is not None else None,
            "source": str(image.source) if image.source is not None else None,
            "format": (image.meta or {}).get("format", "array"),
            "warnings": check_xray_geometry(image.shape, image.pixel_spacing_mm),
        }
        report["preprocessing"] = self.preprocessing.describe(image.pixels)
        report["seconds"] = {k: round(v, 6) for k, v in seconds.items()}
        report["structures"] = structures_found(labels, image.pixel_spacing_mm, self.labels)
        report["measurements"] = measurement.report() if measurement is not None else None
        report["regressed_values"] = (regressed_values_report(raw_values, self.value_scaling)
                                      if raw_values is not None else None)
        return report

    def settings(self) -> dict[str, Any]:
        """The options this pipeline runs with (also in every report)."""
        return {
            "task": "xray",
            "model": self.model,
            "backend": self.runners.backend,
            "backend_reason": self.backend_reason,
            "device": self.runners.device,
            "precision": self.runners.precision,
            "stages": {self.runners.name: self.runners.describe()},
            "tta": self.tta,
            "tta_mirror_axes": ["left-right"] if self.tta else [],
        }

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("this pipeline is closed; load a new one")

    def close(self) -> None:
        """Release the runners (idempotent)."""
        with self._lock:
            if not self._closed:
                self.runners.close()
                self._closed = True

    def __enter__(self) -> XrayPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"XrayPipeline(model={self.model!r}, backend={self.runners.backend!r}, "
                f"device={self.runners.device!r}, folds={list(self.runners.folds)})")
