"""What ``spine-rt bench`` measures when options are left out: presets, default configurations and rounds.

Two presets:

* ``tiny`` (default): a random-init tiny SSHSNet; spine-rt's fast schedule
  on the engine ``auto`` picks on the CPU (OpenVINO, else onnxruntime; on a
  GPU every GPU backend), 1 warm-up and 3 timed rounds, no baselines. This is
  what a new user asks first (how fast is spine-rt here) and it finishes in
  a few minutes on 2 cores. The other CPU engines are behind ``--backend``
  (``--backend openvino onnxruntime torch``; onnxruntime's default threads
  spin, which on a busy 2-core machine cost 5x OpenVINO's time in our run),
  the comparisons with the authors' schedule and MONAI (several times
  longer per call) behind ``--baselines reference,monai``.
* ``full``: the paper-size SSHSNet, random weights; spine-rt fast on
  OpenVINO FP32, OpenVINO BF16 (CPUs with AVX512_BF16 or AMX) and
  onnxruntime, the authors' schedule and MONAI; 0 warm-up, 1 round (each
  call is minutes to hours: the authors' schedule runs 240 paper-size
  patches); plus one stage-two patch per CPU engine and the CPU's
  matrix-product peak (:mod:`spine_rt.bench.stage_engines`,
  :mod:`spine_rt.bench.matmul_peak`).

A configuration of spine-rt fast is written ``backend[:precision]``, e.g.
``openvino:bf16``; the precision defaults to the pipeline's (fp32 on the CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spine_rt.errors import InputError

PRESETS: tuple[str, ...] = ("tiny", "full")
#: names accepted in ``baselines``
BASELINES: tuple[str, ...] = ("reference", "monai")
#: backends spine-rt can run a pipeline on
PIPELINE_BACKENDS: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch", "openvino", "triton")
#: precisions a configuration may name
CONFIGURATION_PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class PresetDefaults:
    """Rounds and baselines of a preset when the options leave them out."""

    warmup: int
    repeat: int
    baselines: tuple[str, ...]


PRESET_DEFAULTS: dict[str, PresetDefaults] = {
    "tiny": PresetDefaults(warmup=1, repeat=3, baselines=()),
    "full": PresetDefaults(warmup=0, repeat=1, baselines=BASELINES),
}


@dataclass(frozen=True)
class FastConfiguration:
    """spine-rt fast on one backend at one precision (``None``: the pipeline's default)."""

    backend: str
    precision: str | None = None

    @property
    def label(self) -> str:
        """``"spine-rt fast (openvino bf16)"``; without a precision ``"spine-rt fast (onnxruntime)"``."""
        suffix = "" if self.precision is None else f" {self.precision}"
        return f"spine-rt fast ({self.backend}{suffix})"

    @property
    def spec(self) -> str:
        return self.backend if self.precision is None else f"{self.backend}:{self.precision}"


def check_preset(preset: str) -> str:
    """``preset`` when valid.

    Raises:
        InputError: unknown preset (lists the valid ones).
    """
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    return preset


def parse_configuration(spec: str) -> FastConfiguration:
    """``"openvino:bf16"`` -> ``FastConfiguration("openvino", "bf16")``; ``"torch"`` -> no precision.

    Raises:
        InputError: an unknown backend or precision.
    """
    backend, _, precision = spec.strip().lower().partition(":")
    if backend not in PIPELINE_BACKENDS:
        raise InputError(f"unknown backend {backend!r}; valid backends: {', '.join(PIPELINE_BACKENDS)} "
                         "(optionally with :precision, e.g. openvino:bf16)")
    if precision and precision not in CONFIGURATION_PRECISIONS:
        raise InputError(f"unknown precision {precision!r} in {spec!r}; valid: {', '.join(CONFIGURATION_PRECISIONS)}")
    return FastConfiguration(backend, precision or None)


def default_configurations(preset: str, available: Sequence[str], device: str,
                           native_bf16: bool | None) -> tuple[list[FastConfiguration], list[str]]:
    """spine-rt fast configurations of ``preset`` among the ``available`` backends, and notes on what was left out.

    Args:
        preset: ``"tiny"`` or ``"full"``.
        available: backends that can run on ``device``, best first (:func:`spine_rt.runtime.available_backends`).
        device: ``"cpu"`` or ``"cuda:N"``.
        native_bf16: the CPU has AVX512_BF16 or AMX (``None``: unknown).
    """
    check_preset(preset)
    notes: list[str] = []
    if device != "cpu":
        return [FastConfiguration(name) for name in dict.fromkeys(available)], notes
    chosen: list[FastConfiguration] = []
    if "openvino" in available:
        chosen.append(FastConfiguration("openvino", "fp32" if preset == "full" else None))
        if preset == "full":
            if native_bf16:
                chosen.append(FastConfiguration("openvino", "bf16"))
            else:
                notes.append("openvino bf16 left out: this CPU has neither AVX512_BF16 nor AMX")
    elif preset == "full":
        notes.append("openvino not installed: its rows are left out (pip install openvino)")
    if "onnxruntime" in available and (preset == "full" or not chosen):
        chosen.append(FastConfiguration("onnxruntime"))
    if not chosen:
        chosen = [FastConfiguration(name) for name in dict.fromkeys(available)]
    left_out = [name for name in ("onnxruntime", "torch") if name in available
                and all(c.backend != name for c in chosen)]
    if left_out:
        notes.append(f"not timed by default: {', '.join(left_out)} (--backend {' '.join(c.spec for c in chosen)} "
                     f"{' '.join(left_out)} adds them)")
    return chosen, notes
