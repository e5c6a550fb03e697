"""The demo: a synthetic spine MR through the bundled model, scored against its exact truth.

:func:`run_demo` draws a phantom (:func:`spine_rt.phantoms.spine_mr`) on the
bundled package's own grid, runs the full two-stage pipeline on it
(:func:`spine_rt.load_pipeline`, default backend), and writes into ``out``:

* ``scan.nii.gz`` - the phantom scan (float32),
* ``labels.nii.gz`` - the label map on the scan's grid (MRSpineSeg ids),
* ``report.json`` - the pipeline's report plus the demo's Dice scores,
* ``qc.png`` - sagittal slices with the labels overlaid and named.

``out`` is checked before any work; the four files are published together
or not at all (:func:`spine_rt.atomic_write.publishing`), replacing earlier
demo files; other files in ``out`` are left alone. Dice is computed per structure present in
the phantom's truth, and their mean. The bundled model was trained on
phantoms only (``docs/demo_model.md``): it is a demonstration, not a
clinical tool.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.atomic_write import output_error, publishing, write_bytes_atomic
from spine_rt.errors import InputError
from spine_rt.measure.overlap import dice_per_label, mean_of_scores

#: the phantom drawn when no seed is given (not one of the training phantoms, seeds 0..63)
DEFAULT_SEED = 1000
DEFAULT_OUT = Path("spine-rt-demo")
SCAN_NAME = "scan.nii.gz"
LABELS_NAME = "labels.nii.gz"
REPORT_NAME = "report.json"
QC_NAME = "qc.png"


@dataclass(frozen=True)
class DemoResult:
    """What the demo did.

    Attributes:
        dice: structure name -> Dice against the truth, for every structure present in the truth
            (in label id order).
        mean_dice: mean of ``dice``.
        seconds: wall time of the whole demo (phantom, pipeline, writing), seconds.
        files: ``{"scan", "labels", "report", "qc"}`` -> the written paths.
        shape: the scan's voxel grid ``(X, Y, Z)``.
        spacing_mm: the scan's voxel size (mm) along ``(X, Y, Z)``.
        report: the pipeline's report (also in ``report.json``).
        model: which model ran (:func:`spine_rt.model_package.identity.model_identity`).
    """

    dice: dict[str, float]
    mean_dice: float
    seconds: float
    files: dict[str, Path]
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    report: dict[str, Any] = field(repr=False)
    model: dict[str, Any] = field(default_factory=dict, repr=False)


def dice_per_structure(prediction: np.ndarray, truth: np.ndarray, names: dict[int, str]) -> dict[str, float]:
    """:func:`~spine_rt.measure.overlap.dice_per_label` of the labels present in ``truth``, by structure name.

    The demo scores the structures its phantom holds (``present_in="truth"``):
    a structure found only in the prediction is not scored.

    Args:
        prediction, truth: integer label maps of the same shape.
        names: label id -> structure name (ids without a name are called ``label N``).
    """
    scores = dice_per_label(prediction, truth, present_in="truth")
    return {names.get(label, f"label {label}"): score for label, score in scores.items()}


def phantom_spacing_of_package(preprocessing: dict[str, Any]) -> tuple[float, float, float]:
    """The phantom spacing ``(slices, S->I, A->P)`` mm that equals the package's stage-two grid.

    The manifest gives stage two's spacing along the model axes ``(I, P, R)``
    = (S->I, A->P, sagittal slices); the phantom's axes are ``(R, I, P)``.
    """
    along_si, along_ap, between_slices = (float(s) for s in preprocessing["spacing_mm"]["stage2"])
    return between_slices, along_si, along_ap


def run_demo(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    backend: str | None = None,
    device: str | None = None,
    seed: int = DEFAULT_SEED,
    package: str | os.PathLike[str] | None = None,
    precision: str | None = None,
) -> DemoResult:
    """Segment a phantom with the bundled (or given) package and score it; see the module docstring.

    Args:
        out: the folder for the four files (created if missing).
        backend, device, precision: as for :func:`spine_rt.load_pipeline`.
        seed: the phantom's seed (non-negative).
        package: a spine MR model package (default: the bundled demo model).

    Raises:
        InputError: no bundled model and no ``package``, a bad seed or option, an unwritable ``out``.
        EnvironmentProblem: the requested backend or device is missing.
    """
    from spine_rt.io import Image, save_image, save_labels
    from spine_rt.measure.qc_picture import mr_qc_picture
    from spine_rt.model_package import ModelPackage
    from spine_rt.phantoms import spine_mr
    from spine_rt.pipelines.default_model import default_package_path
    from spine_rt.model_package.identity import model_identity
    from spine_rt.output_paths import check_output_file, check_output_folder
    from spine_rt.pipelines.load import load_pipeline

    folder = Path(out)
    check_output_folder(folder, "demo output folder")
    for name in (SCAN_NAME, LABELS_NAME, REPORT_NAME, QC_NAME):
        check_output_file(folder / name, "demo output", (), overwrite=True, create_parent=True)
    started = time.perf_counter()
    opened = ModelPackage.open(default_package_path() if package is None else package)
    if opened.manifest.task != "spine_mr":
        raise InputError(f"{opened.root}: a {opened.manifest.task} package; the demo draws a spine MR phantom and "
                         "needs a spine MR package")
    model = model_identity(opened)
    pipeline = load_pipeline(opened, backend=backend, device=device, precision=precision)
    phantom = spine_mr(seed, spacing=phantom_spacing_of_package(opened.manifest.preprocessing))
    scan = Image(phantom.image, phantom.affine)
    result = pipeline(scan)
    names = {int(k): v for k, v in opened.manifest.labels.items()}
    dice = dice_per_structure(result.labels, phantom.labels, names)
    mean_dice = mean_of_scores(dice, if_none_present=float("nan"))

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise output_error(folder, error) from error
    with publishing(overwrite=True):  # the four files appear together or not at all
        files = {
            "scan": save_image(scan, folder / SCAN_NAME),
            "labels": save_labels(result.labels, scan, folder / LABELS_NAME),
            "qc": mr_qc_picture(scan, result.labels, names, folder / QC_NAME, phantom_only=model["bundled_demo"]),
        }
        seconds = time.perf_counter() - started
        files["report"] = write_bytes_atomic(folder / REPORT_NAME, (json.dumps(
            _demo_report(result.report, model, seed, phantom, opened, dice, mean_dice, seconds), indent=2)
            + "\n").encode())
    return DemoResult(dice, mean_dice, seconds, files, phantom.shape, tuple(phantom.spacing), result.report, model)


def _demo_report(pipeline_report: dict[str, Any], model: dict[str, Any], seed: int, phantom: Any, opened: Any,
                 dice: dict[str, float], mean_dice: float, seconds: float) -> dict[str, Any]:
    """``report.json`` of the demo: which model ran, the pipeline's report and the demo's scores."""
    return {
        "model": model,
        **pipeline_report,
        "demo": {
            "phantom_seed": seed,
            "shape": list(phantom.shape),
            "spacing_mm": [float(s) for s in phantom.spacing],
            "package": str(opened.root),
            "dice": dice,
            "mean_dice": mean_dice,
            "seconds": seconds,
            "note": "demo model trained on synthetic phantoms only; not for clinical use",
        },
    }
