"""``verify_package``: run a package on every available backend and compare with the torch FP32 reference.

For every stage and fold, one deterministic real-looking input (or the
centre of a given scan) goes through:

* the reference: torch FP32 on the CPU, rebuilt from the package's weights
  (:func:`spine_rt.pipelines.runner_factory.stage_torch_runner`); with ``checkpoint_free`` (no torch
  needed) onnxruntime CPU on the FP32 graph instead;
* every backend :func:`spine_rt.runtime.available_backends` lists, at every
  precision the package has: onnxruntime (CPU, CUDA) on the graph of that
  precision, torch (FP32 everywhere, FP16 on CUDA only), TensorRT when
  installed, on the engines ``spine-rt build-engine`` stored in the package
  (:func:`spine_rt.engines.open_engine_runner`; a missing engine is a
  skipped row saying so), OpenVINO on the FP32 graph in fp32 and, where the
  CPU has AVX512_BF16 or AMX, in bf16 (a skipped row otherwise).

Each row reports max/mean abs error, relative error and argmax agreement as
defined in :mod:`spine_rt.export.parity` (worst over the stage's outputs),
and fails beyond the same tolerances ``spine-rt export`` applies.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.dependencies import require
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.export.model_families import MODEL_FAMILIES
from spine_rt.export.parity import OutputParity, compare_outputs, parity_failures, tolerance
from spine_rt.export.parity_inputs import normalize_mr, parity_inputs
from spine_rt.model_package import ModelPackage, Stage
from spine_rt.runtime.backends import BackendFacts, available_backends, probe_backends, select_backend

#: backends ``--backends`` accepts
VERIFY_BACKENDS: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch", "openvino")
#: batch of the verification input
VERIFY_BATCH = 2
DEFAULT_SEED = 0

STATUS_OK = "ok"
STATUS_FAIL = "FAIL"
STATUS_REFERENCE = "reference"
STATUS_SKIPPED = "skipped"
#: a bf16 row beyond the gate: the pipelines refuse bf16 for this package (it stays usable in fp32)
STATUS_REFUSED = "refused"


@dataclass(frozen=True)
class ParityRow:
    """One backend at one precision on one stage/fold, against the reference.

    Errors are the worst over the stage's outputs; ``outputs`` has each
    output's figures. ``status`` is ``ok``, ``FAIL``, ``reference`` or
    ``skipped`` or, for bf16 beyond the gate, ``refused`` (the pipelines
    refuse bf16 for this package, which does not fail it: bf16 is an option
    at run time, not a graph of the package); ``note`` says why.
    """

    stage: str
    fold: int
    backend: str
    device: str
    precision: str
    status: str
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    relative_error: float | None = None
    argmax_agreement: float | None = None
    note: str = ""
    outputs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class VerifyReport:
    """Everything ``spine-rt verify`` found.

    Attributes:
        package: the package folder.
        reference: what the rows are compared with (``torch fp32 cpu``).
        rows: one per stage, fold, backend, device and precision.
        skipped_backends: one line per requested backend that cannot run here,
            e.g. ``"tensorrt: skipped (not installed)"``.
    """

    package: str
    reference: str
    rows: tuple[ParityRow, ...]
    skipped_backends: tuple[str, ...] = ()
    tolerances: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no row failed."""
        return all(row.status != STATUS_FAIL for row in self.rows)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {**asdict(self), "passed": self.passed}

    def format_table(self) -> str:
        """Human-readable tables, one per stage and fold."""
        lines = [f"package {self.package}; reference: {self.reference}"]
        headers = ("backend", "device", "precision", "max abs err", "mean abs err", "rel err", "argmax agree", "status")
        groups: dict[tuple[str, int], list[ParityRow]] = {}
        for row in self.rows:
            groups.setdefault((row.stage, row.fold), []).append(row)
        for (stage, fold), rows in groups.items():
            table = [headers] + [
                (row.backend, row.device, row.precision, _number(row.max_abs_error), _number(row.mean_abs_error),
                 _number(row.relative_error), _percent(row.argmax_agreement),
                 row.status + (f" ({row.note})" if row.note else ""))
                for row in rows
            ]
            widths = [max(len(line[i]) for line in table) for i in range(len(headers) - 1)]
            lines += ["", f"stage {stage}, fold {fold}"]
            lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1]
                      for line in table]
        if self.skipped_backends:
            lines += [""] + list(self.skipped_backends)
        limits = ", ".join(f"{p}: rel err < {t['max_relative_error']:.0e}"
                           + (f", argmax >= {100 * t['min_argmax_agreement']:.1f} %"
                              if t["min_argmax_agreement"] is not None else "")
                           for p, t in self.tolerances.items())
        lines += ["", f"tolerances: {limits}", "result: " + ("PASS" if self.passed else "FAIL")]
        return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def resolve_backends(backends: Sequence[str] | str | None) -> tuple[str, ...]:
    """``None`` (all), ``"onnxruntime,torch"`` or a list -> validated names.

    Raises:
        InputError: an unknown backend (lists the valid ones).
    """
    if backends is None:
        return VERIFY_BACKENDS
    items = backends.split(",") if isinstance(backends, str) else [b for item in backends for b in item.split(",")]
    names = tuple(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    unknown = [name for name in names if name not in VERIFY_BACKENDS]
    if unknown or not names:
        raise InputError(f"unknown backend {', '.join(unknown) or '(none given)'}; "
                         f"valid backends: {', '.join(VERIFY_BACKENDS)}")
    return names


def _scan_array(package: ModelPackage, stage_name: str, stage: Stage, scan: Path) -> np.ndarray:
    """The scan on the stage's grid: MR ``(X, Y, Z)`` normalised, or X-ray ``(3, H, W)`` in [0, 1]."""
    manifest = package.manifest
    if manifest.task == "xray":
        from PIL import Image as PillowImage, UnidentifiedImageError

        try:
            with PillowImage.open(scan) as picture:
                height, width = stage.patch_size
                rgb = picture.convert("RGB").resize((width, height), PillowImage.BILINEAR)
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot read X-ray image {scan}: {exc}") from None
        scale = float(manifest.preprocessing.get("scale", 1 / 255))
        return np.moveaxis(np.asarray(rgb, dtype=np.float32) * scale, -1, 0)
    from spine_rt.io import GridTransform, read_image

    image = read_image(scan)
    spacing = manifest.preprocessing.get("spacing_mm", {}).get(stage_name)
    grid = GridTransform.to_model(image, axes=manifest.preprocessing.get("axes", ("I", "P", "R")), spacing=spacing)
    return normalize_mr(grid.forward(image).array)


def _backend_notes(wanted: Sequence[str], choices: Sequence[Any], facts: BackendFacts,
                   checkpoint_free: bool) -> list[str]:
    notes = []
    offered = {choice.name for choice in choices}
    for name in wanted:
        if name == "torch" and checkpoint_free:
            notes.append("torch: skipped (--checkpoint-free, or no torch weights in the package)")
        elif name == "tensorrt" and not facts.tensorrt_installed:
            notes.append("tensorrt: skipped (not installed)")
        elif name not in offered:
            try:
                select_backend(name, None, facts=facts)
                reason = "not available"
            except (EnvironmentProblem, InputError) as exc:
                reason = str(exc).split(";")[0]
            notes.append(f"{name}: skipped ({reason})")
    return notes


def _tensorrt_runner(package: ModelPackage, stage_name: str, fold: int, device: str, precision: str):
    """The runner of the engine ``spine-rt build-engine`` stored for this stage, fold and precision.

    Raises:
        EnvironmentProblem: no stored engine matches this machine and graph
            (the message says what differs; build it with ``spine-rt build-engine``).
    """
    from spine_rt.engines import open_engine_runner

    return open_engine_runner(package, stage_name, fold=fold, device=device, precision=precision,
                              batch=VERIFY_BATCH)


def _run_backend(package: ModelPackage, stage_name: str, fold: int, backend: str, device: str, precision: str,
                 inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    label = f"{stage_name} fold{fold} {backend} {precision}"
    if backend == "onnxruntime":
        from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

        runner = OnnxRuntimeRunner(package.graph_path(stage_name, precision, fold), device=device, name=label)
    elif backend == "openvino":
        from spine_rt.runtime.openvino_runner import OpenVINORunner

        runner = OpenVINORunner(package.graph_path(stage_name, "fp32", fold), precision=precision, name=label)
    elif backend == "torch":
        from spine_rt.pipelines.runner_factory import stage_torch_runner

        runner = stage_torch_runner(package, stage_name, fold, device=device, precision=precision)
    else:
        runner = _tensorrt_runner(package, stage_name, fold, device, precision)
    with runner:
        return runner.infer(inputs)


def _triton_row(stage_name: str, fold: int, triton: tuple[Any, str], inputs: dict[str, np.ndarray],
                reference: dict[str, np.ndarray], class_outputs: Sequence[str]) -> ParityRow:
    """The parity row of the Triton model serving ``stage_name`` / ``fold`` (EnvironmentProblem propagates)."""
    from spine_rt.runtime.triton_runner import TritonRunner
    from spine_rt.serving.triton_repository import triton_model_name

    pool, prefix = triton
    with TritonRunner(triton_model_name(stage_name, fold, prefix), pool) as runner:
        outputs = runner.infer(inputs)
        precision = runner.parameters.get("spine_rt_precision") or "fp32"
    return _row(stage_name, fold, "triton", ",".join(pool.urls), precision,
                compare_outputs(outputs, reference, class_outputs))


def _row(stage: str, fold: int, backend: str, device: str, precision: str,
         results: list[OutputParity], status: str | None = None) -> ParityRow:
    problems = parity_failures(results, precision)
    agreements = [r.argmax_agreement for r in results if r.argmax_agreement is not None]
    failed = STATUS_REFUSED if precision == "bf16" else STATUS_FAIL
    return ParityRow(
        stage=stage, fold=fold, backend=backend, device=device, precision=precision,
        status=status or (failed if problems else STATUS_OK),
        max_abs_error=max(r.max_abs_error for r in results),
        mean_abs_error=max(r.mean_abs_error for r in results),
        relative_error=max(r.relative_error for r in results),
        argmax_agreement=min(agreements) if agreements else None,
        note="; ".join(problems),
        outputs=tuple(r.as_dict() for r in results),
    )


def verify_package(
    package: str | os.PathLike[str],
    *,
    input_scan: str | os.PathLike[str] | None = None,
    backends: Sequence[str] | str | None = None,
    checkpoint_free: bool = False,
    seed: int | None = None,
    facts: BackendFacts | None = None,
    triton: tuple[Any, str] | None = None,
) -> VerifyReport:
    """Compare every available backend with the reference on every stage and fold of ``package``.

    Args:
        package: the package folder (opened with sha256 verification).
        input_scan: an MR scan (NIfTI/DICOM) or X-ray picture whose central
            region replaces the synthetic image.
        backends: subset of :data:`VERIFY_BACKENDS` (default all).
        checkpoint_free: compare with onnxruntime CPU FP32 instead of torch
            (no torch or weights needed); implied for a package without torch
            weights (built by ``spine-rt package`` from ONNX graphs).
        seed: seed of the synthetic inputs (default 0).
        facts: the machine's backends (probed when ``None``; tests state one).
        triton: ``(TritonServerPool, model name prefix)``: also check the models a
            Triton server serves for each stage and fold (backend ``triton``; the
            precision is the one the repository was written with).

    A backend that cannot run here (:class:`EnvironmentProblem`) becomes a
    ``skipped`` row with the reason; an unusable graph or weights file stops
    the verification.

    Raises:
        InputError: a bad package (missing or modified file, corrupt graph,
            weights that do not fit), scan or backend name.
        EnvironmentProblem: torch is missing without ``checkpoint_free``.
    """
    opened = ModelPackage.open(package, verify=True)
    if triton is not None and backends is not None:
        items = backends.split(",") if isinstance(backends, str) else [b for i in backends for b in i.split(",")]
        local = [item for item in items if item.strip() and item.strip().lower() != "triton"]
        wanted = resolve_backends(local) if local else ()
    else:
        wanted = resolve_backends(backends)
    # a package built from ONNX graphs (spine-rt package) has no torch weights: onnxruntime FP32 is its reference
    checkpoint_free = checkpoint_free or not any(stage.weights for stage in opened.manifest.stages.values())
    if not checkpoint_free:
        try:
            require("torch", "the torch FP32 reference of spine-rt verify")
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(f"{exc}; or pass --checkpoint-free to compare with onnxruntime FP32") from None
    facts = probe_backends() if facts is None else facts
    choices = [c for c in available_backends(None, facts=facts)
               if c.name in wanted and not (c.name == "torch" and checkpoint_free)]
    manifest = opened.manifest
    family = MODEL_FAMILIES.get(manifest.model)
    seed = DEFAULT_SEED if seed is None else int(seed)
    rows: list[ParityRow] = []
    for stage_name, stage in manifest.stages.items():
        class_outputs = ()
        if family is not None and stage_name in family.stage_names:
            class_outputs = (family.stage(stage_name).class_output,)
        scan = None if input_scan is None else _scan_array(opened, stage_name, stage, Path(input_scan))
        for fold in stage.folds:
            inputs = parity_inputs(stage.network, stage.config, stage.patch_size, batch=VERIFY_BATCH,
                                   seed=seed, scan=scan)
            precisions = [p for p in ("fp32", "fp16") if any(g.precision == p and g.fold == fold for g in stage.graphs)]
            if checkpoint_free:
                reference_backend = ("onnxruntime", "cpu")
                reference = _run_backend(opened, stage_name, fold, "onnxruntime", "cpu", "fp32", inputs)
            else:
                reference_backend = ("torch", "cpu")
                reference = _run_backend(opened, stage_name, fold, "torch", "cpu", "fp32", inputs)
            for choice in choices:
                for precision in (("fp32", "bf16") if choice.name == "openvino" else precisions):
                    if (choice.name, choice.device) == reference_backend and precision == "fp32":
                        rows.append(_row(stage_name, fold, choice.name, choice.device, precision,
                                         compare_outputs(reference, reference, class_outputs), STATUS_REFERENCE))
                        continue
                    if choice.name == "torch" and precision == "fp16" and choice.device == "cpu":
                        rows.append(ParityRow(stage_name, fold, "torch", "cpu", "fp16", STATUS_SKIPPED,
                                              note="torch FP16 runs on CUDA only"))
                        continue
                    try:
                        outputs = _run_backend(opened, stage_name, fold, choice.name, choice.device, precision, inputs)
                        results = compare_outputs(outputs, reference, class_outputs)
                    except EnvironmentProblem as exc:  # the backend cannot run here: shown, not failed
                        rows.append(ParityRow(stage_name, fold, choice.name, choice.device, precision,
                                              STATUS_SKIPPED, note=str(exc)))
                        continue
                    rows.append(_row(stage_name, fold, choice.name, choice.device, precision, results))
            if triton is not None:
                rows.append(_triton_row(stage_name, fold, triton, inputs, reference, class_outputs))
    reference_name = "onnxruntime fp32 cpu" if checkpoint_free else "torch fp32 cpu (package weights)"
    if not any(stage.weights for stage in manifest.stages.values()):
        reference_name += " (the package has no torch weights: built from ONNX graphs)"
    return VerifyReport(
        package=str(opened.root),
        reference=reference_name,
        rows=tuple(rows),
        skipped_backends=tuple(_backend_notes(wanted, choices, facts, checkpoint_free)),
        tolerances={p: asdict(tolerance(p)) for p in ("fp32", "fp16", "bf16")},
    )
