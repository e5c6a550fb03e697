"""How close a backend's outputs are to the torch FP32 reference, and the tolerances export and verify apply.

Definitions, per output tensor (``a`` = candidate, ``b`` = reference, both
float32 arrays of one shape):

* **max abs error** = ``max |a - b|``; **mean abs error** = ``mean |a - b|``.
* **relative error** = ``max |a - b| / max |b|``: the worst deviation as a
  fraction of the reference's largest magnitude (scale-free, and not blown
  up by reference values near zero). When ``max |b| == 0`` it is the max abs
  error.
* **argmax agreement** (class outputs only: axis 1 holds the classes) = the
  fraction of voxels/pixels whose argmax over the classes is the same.

Tolerances (:data:`TOLERANCES`): FP32 graphs relative error < 1e-4; FP16
graphs relative error < 1e-2 and argmax agreement >= 99.5 %; BF16 (the FP32
graph computed in bfloat16 by OpenVINO) relative error < 1e-1 (8 significant
bits against FP16's 11: 8x FP16's limit, rounded up) and argmax agreement
>= 99.5 %, the gate of :mod:`spine_rt.pipelines.bf16_gate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spine_rt.errors import EXIT_BUG, InputError, SpineRTError


class ParityError(SpineRTError):
    """Outputs of an exported graph are beyond tolerance of torch (exit code 1; no package is written)."""

    exit_code = EXIT_BUG


@dataclass(frozen=True)
class ParityTolerance:
    """Limits for one precision: ``relative error < max_relative_error`` and
    ``argmax agreement >= min_argmax_agreement`` (``None``: not checked)."""

    max_relative_error: float
    min_argmax_agreement: float | None


#: precision -> tolerance; the same numbers for ``spine-rt export`` and ``spine-rt verify``.
TOLERANCES: dict[str, ParityTolerance] = {
    "fp32": ParityTolerance(max_relative_error=1e-4, min_argmax_agreement=None),
    "fp16": ParityTolerance(max_relative_error=1e-2, min_argmax_agreement=0.995),
    "bf16": ParityTolerance(max_relative_error=1e-1, min_argmax_agreement=0.995),
}


def tolerance(precision: str) -> ParityTolerance:
    """The tolerance of ``precision`` (``fp32`` or ``fp16``).

    Raises:
        InputError: unknown precision.
    """
    try:
        return TOLERANCES[precision]
    except KeyError:
        raise InputError(f"unknown precision {precision!r}; valid precisions: {', '.join(TOLERANCES)}") from None


@dataclass(frozen=True)
class OutputParity:
    """The comparison of one output tensor (see the module docstring for the definitions)."""

    output: str
    max_abs_error: float
    mean_abs_error: float
    relative_error: float
    argmax_agreement: float | None

    def failures(self, limits: ParityTolerance) -> list[str]:
        """Why this output is beyond ``limits`` (empty when within)."""
        problems = []
        if not np.isfinite(self.relative_error) or self.relative_error >= limits.max_relative_error:
            problems.append(f"{self.output}: relative error {self.relative_error:.2e} "
                            f"(limit < {limits.max_relative_error:.0e})")
        if (limits.min_argmax_agreement is not None and self.argmax_agreement is not None
                and self.argmax_agreement < limits.min_argmax_agreement):
            problems.append(f"{self.output}: argmax agreement {100 * self.argmax_agreement:.2f} % "
                            f"(limit >= {100 * limits.min_argmax_agreement:.1f} %)")
        return problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def compare_output(name: str, candidate: np.ndarray, reference: np.ndarray, has_classes: bool) -> OutputParity:
    """Compare one output; ``has_classes``: axis 1 holds class scores (argmax agreement computed).

    Raises:
        InputError: the shapes differ.
    """
    a = np.asarray(candidate, dtype=np.float32)
    b = np.asarray(reference, dtype=np.float32)
    if a.shape != b.shape:
        raise InputError(f"output {name}: shape {a.shape} differs from the reference's {b.shape}")
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
    max_abs = float(difference.max()) if difference.size else 0.0
    mean_abs = float(difference.mean()) if difference.size else 0.0
    scale = float(np.abs(b).max()) if b.size else 0.0
    relative = max_abs / scale if scale > 0 else max_abs
    agreement = None
    if has_classes and a.ndim >= 2:
        agreement = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    return OutputParity(name, max_abs, mean_abs, relative, agreement)


def compare_outputs(
    candidate: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    class_outputs: Sequence[str] = (),
) -> list[OutputParity]:
    """Compare every output of ``reference`` (in its order) with ``candidate``.

    Raises:
        InputError: an output missing from ``candidate`` or of another shape.
    """
    results = []
    for name, expected in reference.items():
        if name not in candidate:
            raise InputError(f"output {name} is missing (outputs: {', '.join(candidate)})")
        results.append(compare_output(name, candidate[name], expected, name in class_outputs))
    return results


def parity_failures(results: Sequence[OutputParity], precision: str) -> list[str]:
    """Every reason ``results`` are beyond the tolerance of ``precision`` (empty when all pass)."""
    limits = tolerance(precision)
    return [problem for result in results for problem in result.failures(limits)]
