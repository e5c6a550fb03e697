"""spine_rt.evaluation: score a model package on labelled scans through the product path.

* :func:`evaluate_folder` - run a package (``load_pipeline``) on every image
  of a folder, or read existing predictions, and score them against the
  truth (``spine-rt evaluate``);
* :class:`EvaluationReport` - per case and overall Dice, HD95 (mm), missing
  and extra structures, level shifts; table, JSON, CSV;
* :func:`evaluate_scan` - one scan through the package against its labels (``spine-rt verify --labels``);
* :func:`evaluate_case` - the metrics of one prediction / truth pair.

Importing this package needs numpy and scipy only.
"""

from __future__ import annotations

from spine_rt.evaluation.case_metrics import CaseEvaluation, LevelShift, evaluate_case, find_level_shifts
from spine_rt.evaluation.evaluation_report import EvaluationReport
from spine_rt.evaluation.folder_evaluation import evaluate_folder, evaluate_scan

__all__ = ["CaseEvaluation", "EvaluationReport", "LevelShift", "evaluate_case", "evaluate_folder",
           "evaluate_scan", "find_level_shifts"]
