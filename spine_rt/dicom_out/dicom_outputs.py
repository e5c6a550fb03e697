"""A pipeline result as a DICOM SEG and, optionally, a TID 1500 SR: built in memory, then written atomically.

::

    from spine_rt.dicom_out import dicom_outputs as out
    image = spine_rt.io.read_image("series/")              # a DICOM input
    result = pipe(image)
    out.write_dicom_outputs(result.labels, result.report, out.SourceImages.of_image(image),
                            package.manifest.labels, out.AlgorithmFacts.of_package(package),
                            "seg.dcm", sr_path="sr.dcm")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.atomic_write import publishing, write_file_atomic
from spine_rt.dicom_out.measurement_report import build_measurement_report, collect_structure_values, image_values
from spine_rt.dicom_out.segmentation import AlgorithmFacts, SourceImages, build_segmentation
from spine_rt.errors import InputError

__all__ = ["AlgorithmFacts", "SourceImages", "check_dicom_output_path", "require_highdicom", "write_dicom_outputs"]


def require_highdicom() -> None:
    """Raise :class:`~spine_rt.errors.EnvironmentProblem` (exit 3, with the install command) without highdicom."""
    import importlib.util

    from spine_rt.errors import EnvironmentProblem

    if importlib.util.find_spec("highdicom") is None:
        raise EnvironmentProblem("DICOM SEG and SR outputs need highdicom, which is not installed; install it with: "
                                 "pip install 'spine-rt[dicom]'   # or: pip install highdicom")


def check_dicom_output_path(path: str | Path, what: str) -> Path:
    """A ``.dcm`` destination in an existing folder.

    Raises:
        InputError: another ending, a folder, a missing parent folder.
    """
    target = Path(path)
    if target.suffix.lower() != ".dcm":
        raise InputError(f"{target}: the {what} is a DICOM file; the name must end in .dcm")
    if target.is_dir():
        raise InputError(f"{target}: the {what} is a folder")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: the folder for the {what} does not exist")
    return target


def write_dicom_outputs(labels: np.ndarray, report: Mapping[str, Any], source: SourceImages,
                        names: Mapping[int, str], algorithm: AlgorithmFacts, seg_path: str | Path,
                        sr_path: str | Path | None = None) -> dict[str, Any]:
    """Build the SEG (and the SR) of one result, then write each atomically.

    Args:
        labels: ``(I, J, K)`` label map on the source grid (``(H, W)`` for an X-ray).
        report: the pipeline's report (structures with volumes or areas; X-ray values).
        source: the source instances (:meth:`SourceImages.of_image` / :meth:`SourceImages.of_file`).
        names: label id -> structure name.
        algorithm: what made the labels.
        seg_path, sr_path: ``.dcm`` destinations.

    Returns:
        facts for the report: paths, SOP instance UIDs, segment numbers, repaired source UIDs.

    Raises:
        InputError: no structure found, bad destinations. Nothing is written then.
        EnvironmentProblem: highdicom is not installed.
    """
    require_highdicom()
    seg_target = check_dicom_output_path(seg_path, "SEG output")
    sr_target = check_dicom_output_path(sr_path, "SR output") if sr_path is not None else None
    segmentation = build_segmentation(np.asarray(labels), source, names, algorithm)
    report_object = None
    if sr_target is not None:
        report_object = build_measurement_report(segmentation, source, collect_structure_values(report), algorithm,
                                                 image_level=image_values(report))
    facts: dict[str, Any] = {
        "seg": str(seg_target), "seg_sop_instance_uid": str(segmentation.dataset.SOPInstanceUID),
        "segments": {names.get(label, str(label)): number for label, number in segmentation.segments.items()},
        "source_uids_generated": list(source.uids_repaired),
    }
    with publishing(overwrite=True):  # SEG and SR together or neither (joins an enclosing set)
        write_file_atomic(seg_target, lambda temporary: segmentation.dataset.save_as(temporary), suffix=".dcm")
        if report_object is not None and sr_target is not None:
            write_file_atomic(sr_target, lambda temporary: report_object.save_as(temporary), suffix=".dcm")
    if report_object is not None and sr_target is not None:
        facts["sr"] = str(sr_target)
        facts["sr_sop_instance_uid"] = str(report_object.SOPInstanceUID)
    return facts
