"""The BF16 gate: a stage runs in bfloat16 only when its labels barely change.

BF16 keeps 8 significant bits (FP16: 11), so a network whose decisions hinge
on small differences can change its labels. Like the FP16 graphs at export
(:mod:`spine_rt.export.parity`), a stage asked to run at ``precision="bf16"``
is first checked on a real-looking input
(:func:`spine_rt.export.parity_inputs.parity_inputs`, seed 0): its class
output at BF16 is compared with the same graph at FP32 (OpenVINO, exact),
and below :data:`MIN_ARGMAX_AGREEMENT` argmax agreement the precision is
refused with the figure (:class:`Bf16Refused`, an :class:`InputError`).

The verdict depends only on the graph, the OpenVINO version, the CPU and
the input, so it is stored in the runner's model-cache folder
(``bf16_gate.json``, keyed like the compiled network,
:mod:`spine_rt.runtime.openvino_cache`) and a later process reads it
instead of running the check again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError

#: the FP16 gate's limit (``spine_rt.export.parity.TOLERANCES``), applied to BF16
MIN_ARGMAX_AGREEMENT = 0.995
#: the gate's input: seed and batch of :func:`~spine_rt.export.parity_inputs.parity_inputs`
GATE_SEED = 0
GATE_BATCH = 1
VERDICT_NAME = "bf16_gate.json"
#: what a failed gate does: ``"refuse"`` (inference: raise :class:`Bf16Refused`) or ``"report"`` (benchmarks:
#: the runner is made and carries the verdict as ``runner.bf16_verdict``; its labels are not for use)
BF16_GATE_MODES = ("refuse", "report")


class Bf16Refused(InputError):
    """BF16 changes too many labels of this network (exit code 2); the message has the figure."""


@dataclass(frozen=True)
class Bf16Verdict:
    """BF16 against FP32 on one input.

    Attributes:
        argmax_agreement: fraction of voxels whose class is the same.
        max_abs_error / relative_error: of the class output (relative: ``max |a-b| / max |b|``).
        passed: ``argmax_agreement >= MIN_ARGMAX_AGREEMENT``.
        input: what the input was (``"parity input, seed 0, batch 1"``).
    """

    argmax_agreement: float
    max_abs_error: float
    relative_error: float
    passed: bool
    input: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_bf16(bf16: Mapping[str, np.ndarray], fp32: Mapping[str, np.ndarray], class_output: str,
                 input_description: str) -> Bf16Verdict:
    """The verdict of BF16 outputs against FP32 outputs (``class_output``: axis 1 holds the classes)."""
    a = np.asarray(bf16[class_output], dtype=np.float64)
    b = np.asarray(fp32[class_output], dtype=np.float64)
    difference = float(np.abs(a - b).max())
    scale = float(np.abs(b).max())
    agreement = float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))
    return Bf16Verdict(agreement, difference, difference / scale if scale > 0 else difference,
                       agreement >= MIN_ARGMAX_AGREEMENT, input_description)


def check_bf16(bf16_runner: Any, fp32_runner: Any, feed: Mapping[str, np.ndarray], class_output: str,
               input_description: str = "given input") -> Bf16Verdict:
    """Run ``feed`` through both runners and compare (see :func:`compare_bf16`)."""
    return compare_bf16(bf16_runner.infer(feed), fp32_runner.infer(feed), class_output, input_description)


def refuse_unless_passed(verdict: Bf16Verdict, what: str) -> None:
    """Raise :class:`Bf16Refused` with the figure when ``verdict`` failed."""
    if not verdict.passed:
        raise Bf16Refused(
            f"precision bf16 refused for {what}: argmax agreement with FP32 {100 * verdict.argmax_agreement:.2f} % "
            f"on a real-looking input (limit >= {100 * MIN_ARGMAX_AGREEMENT:.1f} %; max abs error "
            f"{verdict.max_abs_error:.3g}); use precision fp32 (exact)")


def gate_stage(package: Any, stage_name: str, runner: Any, class_output: str, mode: str = "refuse") -> Bf16Verdict:
    """Check one BF16 OpenVINO runner of a package stage (stored verdict reused); refuse when it fails.

    The verdict is also set on the runner (``runner.bf16_verdict``).

    Args:
        package: the open :class:`~spine_rt.model_package.ModelPackage`.
        stage_name: the stage the runner serves.
        runner: an :class:`~spine_rt.runtime.openvino_runner.OpenVINORunner` at bf16.
        class_output: the stage's class output (argmax over axis 1).
        mode: one of :data:`BF16_GATE_MODES` (``"report"``: a failed verdict is returned, not raised).

    Raises:
        Bf16Refused: agreement below :data:`MIN_ARGMAX_AGREEMENT` (the message has the figure), in mode
            ``"refuse"``.
    """
    from spine_rt.export.parity_inputs import parity_inputs
    from spine_rt.runtime.openvino_cache import read_json
    from spine_rt.runtime.openvino_runner import OpenVINORunner

    if mode not in BF16_GATE_MODES:
        raise InputError(f"unknown bf16 gate mode {mode!r}; valid: {', '.join(BF16_GATE_MODES)}")
    description = f"parity input, seed {GATE_SEED}, batch {GATE_BATCH}"
    what = f"{stage_name} ({runner.name})"
    runner.activate()
    stored = None if runner.cache_folder is None else read_json(runner.cache_folder / VERDICT_NAME)
    if stored is not None and stored.get("input") == description:
        verdict = Bf16Verdict(**{k: stored[k] for k in Bf16Verdict.__dataclass_fields__})
        return _settle(runner, verdict, what, mode)
    stage = package.stage(stage_name)
    feed = parity_inputs(stage.network, stage.config, stage.patch_size, batch=GATE_BATCH, seed=GATE_SEED)
    with OpenVINORunner(runner.source, precision="fp32", threads=runner.threads, cache_dir=runner.cache_root,
                        name=f"{runner.name} fp32 (bf16 gate)") as exact:
        verdict = check_bf16(runner, exact, feed, class_output, description)
    if runner.cache_folder is not None:
        _store(runner.cache_folder / VERDICT_NAME, verdict)
    return _settle(runner, verdict, what, mode)


def _settle(runner: Any, verdict: Bf16Verdict, what: str, mode: str) -> Bf16Verdict:
    runner.bf16_verdict = verdict
    if mode == "refuse":
        refuse_unless_passed(verdict, what)
    return verdict


def _store(path: Any, verdict: Bf16Verdict) -> None:
    from spine_rt.atomic_write import write_bytes_atomic

    try:
        write_bytes_atomic(path, (json.dumps(verdict.as_dict(), indent=2) + "\n").encode())
    except OSError:  # an unwritable cache only means the check runs again next time
        pass
