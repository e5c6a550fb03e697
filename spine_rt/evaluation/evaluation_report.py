"""The result of evaluating a package on a folder: per case, per structure, overall; table, JSON, CSV.

Overall figures follow the training recipes' validation (SEEDS' metric):
the mean Dice is the mean over cases of each case's mean Dice; a
structure's Dice is its mean over the cases where it was present in the
prediction or the truth. A structure's HD95 is its mean over the cases where
it was present in both. JSON and CSV are written atomically
(:func:`spine_rt.atomic_write.write_bytes_atomic`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spine_rt.atomic_write import write_bytes_atomic
from spine_rt.evaluation.case_metrics import CaseEvaluation


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


@dataclass(frozen=True)
class EvaluationReport:
    """Every case's metrics and their summary.

    Attributes:
        cases: one :class:`CaseEvaluation` per case, by name.
        labels: the package's ``{id: name}``.
        source: what produced the predictions (package path, backend) for the record.
        ignored_truth_structures: truth structures the package does not name (scored as background).
    """

    cases: tuple[CaseEvaluation, ...]
    labels: dict[int, str]
    source: dict = field(default_factory=dict)
    ignored_truth_structures: tuple[str, ...] = ()

    @property
    def per_case(self) -> dict[str, float | None]:
        """Case name -> its mean Dice."""
        return {case.name: case.mean_dice for case in self.cases}

    @property
    def mean_dice(self) -> float:
        """Mean over cases of the case means (NaN when no case has any structure)."""
        values = [v for v in self.per_case.values() if v is not None]
        return float(np.mean(values)) if values else float("nan")

    def per_structure(self) -> dict[str, dict[str, float | int | None]]:
        """Structure name -> mean Dice, mean HD95 (mm), cases present, missing, extra, level-shifted."""
        table: dict[str, dict[str, float | int | None]] = {}
        for class_id, name in sorted(self.labels.items()):
            if class_id == 0:
                continue
            dice = [case.dice[name] for case in self.cases if name in case.dice]
            hd95 = [case.hd95_mm[name] for case in self.cases if case.hd95_mm.get(name) is not None]
            table[name] = {
                "dice": _mean(dice),
                "hd95_mm": _mean(hd95),  # type: ignore[arg-type]
                "cases": len(dice),
                "missing": sum(name in case.missing for case in self.cases),
                "extra": sum(name in case.extra for case in self.cases),
                "level_shifted": sum(any(s.predicted == name for s in case.level_shifts) for case in self.cases),
            }
        return table

    @property
    def level_shifted_cases(self) -> list[str]:
        """Names of the cases with at least one level shift."""
        return [case.name for case in self.cases if case.level_shifts]

    def worst_case(self) -> tuple[str, float] | None:
        scored = [(case.name, case.mean_dice) for case in self.cases if case.mean_dice is not None]
        return min(scored, key=lambda item: item[1]) if scored else None  # type: ignore[return-value]

    def as_dict(self) -> dict:
        worst = self.worst_case()
        return {
            "source": dict(self.source),
            "labels": {str(k): v for k, v in sorted(self.labels.items())},
            "metric": "Dice per structure present in the prediction or the truth, mean per case, then over "
                      "cases; HD95 = symmetric 95th-percentile Hausdorff distance (mm, voxel size from the "
                      "affine) per structure present in both",
            "mean_dice": _round(self.mean_dice, 6),
            "median_case_dice": _round(float(np.median([v for v in self.per_case.values() if v is not None]))
                                       if any(v is not None for v in self.per_case.values()) else None, 6),
            "worst_case": None if worst is None else {"name": worst[0], "mean_dice": round(worst[1], 6)},
            "level_shifted_cases": self.level_shifted_cases,
            "ignored_truth_structures": list(self.ignored_truth_structures),
            "per_structure": {name: {k: (_round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                              for name, row in self.per_structure().items()},
            "cases": [case.as_dict() for case in self.cases],
        }

    def summary(self) -> str:
        """One line: mean Dice, per-structure Dice, level-shifted cases."""
        rows = self.per_structure()
        classes = ", ".join(f"{name} {'-' if row['dice'] is None else format(row['dice'], '.3f')}"
                            for name, row in rows.items())
        return (f"mean Dice {self.mean_dice:.4f} ({classes}); {len(self.level_shifted_cases)} of "
                f"{len(self.cases)} cases level-shifted")

    def format_table(self) -> str:
        """The summary table: one row per case, then one per structure, then the overall line."""
        def number(value, spec):
            width = int(spec.split(".")[0] or 0)
            return f"{'-':>{width}}" if value is None else format(value, spec)

        lines = [f"{'case':<24} {'mean Dice':>9}  {'missing':<16} {'extra':<16} level shifts"]
        for case in self.cases:
            shifts = ", ".join(f"{s.predicted} on true {s.true} ({100 * s.overlap_share:.0f} %)"
                               for s in case.level_shifts) or "-"
            lines.append(f"{case.name:<24} {number(case.mean_dice, '9.4f')}  {', '.join(case.missing) or '-':<16} "
                         f"{', '.join(case.extra) or '-':<16} {shifts}")
        lines += ["", f"{'structure':<24} {'Dice':>7} {'HD95 mm':>8} {'cases':>6} {'missing':>8} {'extra':>6} "
                      f"{'shifted':>8}"]
        for name, row in self.per_structure().items():
            lines.append(f"{name:<24} {number(row['dice'], '7.4f')} {number(row['hd95_mm'], '8.2f')} "
                         f"{row['cases']:>6} {row['missing']:>8} {row['extra']:>6} {row['level_shifted']:>8}")
        worst = self.worst_case()
        lines += ["", self.summary() + ("" if worst is None else f"; worst {worst[0]} {worst[1]:.4f}")]
        if self.ignored_truth_structures:
            lines.append(f"truth structures the package does not name (scored as background): "
                         f"{', '.join(self.ignored_truth_structures)}")
        return "\n".join(lines)

    def csv_text(self) -> str:
        """One row per case and structure: case, structure, dice, hd95_mm, status (ok/missing/extra), level shift."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["case", "structure", "dice", "hd95_mm", "status", "level_shift_onto"])
        for case in self.cases:
            shifted: Mapping[str, str] = {s.predicted: s.true for s in case.level_shifts}
            for name, dice in case.dice.items():
                status = "missing" if name in case.missing else "extra" if name in case.extra else "ok"
                hd95 = case.hd95_mm.get(name)
                writer.writerow([case.name, name, f"{dice:.6f}", "" if hd95 is None else f"{hd95:.4f}", status,
                                 shifted.get(name, "")])
        return buffer.getvalue()

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        return write_bytes_atomic(path, (json.dumps(self.as_dict(), indent=2) + "\n").encode())

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        return write_bytes_atomic(path, self.csv_text().encode())
