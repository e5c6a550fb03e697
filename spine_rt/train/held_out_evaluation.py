"""Dice of trained stages on held-out scans, through the exported package (the product path).

:func:`evaluate_two_stage` exports the two training checkpoints exactly as
the documented ``spine-rt export sshsnet --checkpoint stage1=S1.pt
--checkpoint stage2=S2.pt --out PKG`` does (no extra option: the grid,
window sizes, labels and normalisation come from the checkpoints), then
scores the package with :func:`spine_rt.evaluation.evaluate_folder`, which
runs :func:`spine_rt.load_pipeline` on every scan as ``spine-rt infer`` and
``spine-rt evaluate`` do. What the recipe reports is therefore what a user
of the package measures; there is no second implementation to drift.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from spine_rt.evaluation import EvaluationReport, evaluate_folder


def export_two_stage(stage_one_checkpoint: str | os.PathLike[str], stage_two_checkpoint: str | os.PathLike[str],
                     out: str | os.PathLike[str], *, precisions: str = "fp32", overwrite: bool = False) -> Path:
    """``spine-rt export sshsnet`` of the two checkpoints with no extra option; returns the package folder.

    Raises:
        InputError: unreadable or mismatched checkpoints, an existing ``out``.
        ParityError: a graph differs from torch beyond the export's tolerance.
    """
    from spine_rt.export import export_package

    package = export_package("sshsnet", out, {"stage1": stage_one_checkpoint, "stage2": stage_two_checkpoint},
                             precisions=precisions, overwrite=overwrite)
    return package.root


def evaluate_two_stage(
    stage_one_checkpoint: str | os.PathLike[str],
    stage_two_checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    package: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    **pipeline_options: Any,
) -> EvaluationReport:
    """Export both checkpoints, then segment every image of ``data`` with the package and score it.

    Args:
        stage_one_checkpoint / stage_two_checkpoint: training checkpoints (``best.pt``).
        data: folder of held-out ``NAME_image`` / ``NAME_label`` pairs.
        package: where to keep the exported package (default: a temporary folder, removed after).
        labels: the folder of the truth label maps when not ``data``.
        pipeline_options: options of :func:`spine_rt.load_pipeline` (``backend``, ``device``, ``tta``, ...).

    Returns:
        The :class:`~spine_rt.evaluation.EvaluationReport` (``.summary()``, ``.per_case``, ``.as_dict()``).

    Raises:
        InputError: unreadable checkpoints or scans, labels outside the label map.
    """
    if package is not None:
        root = export_two_stage(stage_one_checkpoint, stage_two_checkpoint, package)
        return evaluate_folder(root, data, labels or data, **pipeline_options)
    with tempfile.TemporaryDirectory(prefix="spine-rt-held-out-") as folder:
        root = export_two_stage(stage_one_checkpoint, stage_two_checkpoint, Path(folder) / "package")
        return evaluate_folder(root, data, labels or data, **pipeline_options)
