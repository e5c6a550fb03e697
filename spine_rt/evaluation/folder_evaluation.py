"""``evaluate_folder``: run a model package on a folder of scans (the product path) and score it.

Every image goes through :func:`spine_rt.load_pipeline` exactly as
``spine-rt infer`` runs it (same backend choice, preprocessing, windows and
inverse), or an existing prediction is read instead (``predictions=``).
Inputs are checked before any network runs: every case's files are paired,
every truth label map is read, its values checked against the label set and
its grid against its image's. Then each case is scored
(:func:`spine_rt.evaluation.case_metrics.evaluate_case`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError
from spine_rt.evaluation.case_files import EvaluationCase, case_name, find_cases
from spine_rt.evaluation.case_metrics import CaseEvaluation, evaluate_case
from spine_rt.evaluation.evaluation_report import EvaluationReport
from spine_rt.evaluation.truth_labels import TruthMapping, check_same_grid
from spine_rt.io import read_image
from spine_rt.model_package import ModelPackage


def _read_truth(case: EvaluationCase, mapping: TruthMapping):
    image = read_image(case.image)
    truth = read_image(case.label)
    check_same_grid(image, truth, "label map", case.image, case.label)
    return image, mapping.apply(truth.array, str(case.label))


def evaluate_folder(
    package: str | os.PathLike[str],
    images: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    labels_map: Mapping[int, str] | str | os.PathLike[str] | None = None,
    predictions: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
    **pipeline_options: Any,
) -> EvaluationReport:
    """Segment (or read the predictions of) every case and score it against its truth.

    Args:
        package: a spine MR model package (its labels name the structures).
        images / labels: folders of images and truth label maps (may be one folder; see
            :mod:`spine_rt.evaluation.case_files` for the names).
        labels_map: ``{id: name}`` (or a ``labels.json``) of the truth files; default: the package's ids.
        predictions: a folder of existing label maps (``NAME_seg.nii.gz`` etc.) to score instead of
            running the package.
        progress: called with one line per finished case.
        pipeline_options: options of :func:`spine_rt.load_pipeline` (``backend``, ``device``, ``tta``, ...).

    Raises:
        InputError: unpaired files, a truth value outside the label set, a truth
            or prediction on another grid than its image, not a spine MR package.
        EnvironmentProblem: the requested backend is not available.
    """
    from spine_rt.anatomy.label_maps import read_labels
    from spine_rt.pipelines import load_pipeline

    opened = ModelPackage.open(package, verify=pipeline_options.pop("verify", True))
    if opened.manifest.task != "spine_mr":
        raise InputError(f"{opened.root}: a {opened.manifest.task} package; evaluate scores spine MR packages")
    package_labels = dict(opened.manifest.labels)
    truth_labels = read_labels(labels_map) if isinstance(labels_map, (str, os.PathLike)) else labels_map
    mapping = TruthMapping.build(package_labels, None if truth_labels is None else dict(truth_labels))
    cases = find_cases(images, labels, predictions)
    for case in cases:  # check every input before any network runs
        _read_truth(case, mapping)

    source: dict[str, Any] = {"package": str(opened.root), "images": str(images), "labels": str(labels)}
    scored = []
    if predictions is not None:
        source["predictions"] = str(predictions)
        prediction_labels = TruthMapping.build(package_labels, None)
        for case in cases:
            image, truth = _read_truth(case, mapping)
            predicted = read_image(case.prediction)  # type: ignore[arg-type]
            check_same_grid(image, predicted, "prediction", case.image, case.prediction)  # type: ignore[arg-type]
            values = prediction_labels.apply(predicted.array, str(case.prediction))
            scored.append(evaluate_case(case.name, values, truth, image.affine, package_labels))
            if progress is not None:
                progress(_line(scored[-1]))
    else:
        with load_pipeline(opened, **pipeline_options) as pipeline:
            settings = pipeline.settings()
            source["pipeline"] = {key: settings.get(key) for key in ("backend", "backend_reason", "device",
                                                                     "precision", "schedule", "stages", "tta",
                                                                     "relabel_levels")}
            for case in cases:
                image, truth = _read_truth(case, mapping)
                result = pipeline(image)
                scored.append(evaluate_case(case.name, result.labels, truth, image.affine, package_labels))
                if progress is not None:
                    progress(_line(scored[-1]))
    return EvaluationReport(tuple(scored), package_labels, source, mapping.ignored)


def evaluate_scan(
    package: str | os.PathLike[str],
    image: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    labels_map: Mapping[int, str] | str | os.PathLike[str] | None = None,
    **pipeline_options: Any,
) -> CaseEvaluation:
    """Segment one scan with the package (:func:`spine_rt.load_pipeline`) and score it against ``labels``.

    Raises:
        InputError: a truth value outside the label set, truth on another grid than the scan.
    """
    from spine_rt.anatomy.label_maps import read_labels
    from spine_rt.pipelines import load_pipeline

    opened = ModelPackage.open(package, verify=pipeline_options.pop("verify", True))
    package_labels = dict(opened.manifest.labels)
    truth_labels = read_labels(labels_map) if isinstance(labels_map, (str, os.PathLike)) else labels_map
    mapping = TruthMapping.build(package_labels, None if truth_labels is None else dict(truth_labels))
    case = EvaluationCase(case_name(Path(image)) or Path(image).name, Path(image), Path(labels))
    scan, truth = _read_truth(case, mapping)
    with load_pipeline(opened, **pipeline_options) as pipeline:
        result = pipeline(scan)
    return evaluate_case(case.name, result.labels, truth, scan.affine, package_labels)


def _line(case) -> str:
    mean = "-" if case.mean_dice is None else f"{case.mean_dice:.4f}"
    shifts = f", level shift {', '.join(f'{s.predicted}->{s.true}' for s in case.level_shifts)}" \
        if case.level_shifts else ""
    return f"{case.name}: mean Dice {mean}{shifts}"
