"""What a benchmark runs: the scan, the model package, the presets and the configurations.

**The scan**: a synthetic spine MR of MRSpineSeg geometry or of a given size.
Shapes are written in the phantom's array order ``(slices, S-I, A-P)``:
sagittal slices (4.4 mm apart, left -> right), superior -> inferior and
anterior -> posterior voxels (0.3448 mm), i.e. the grid stage two runs on,
so the network volume has the requested size (after padding to the
networks' multiples). ``12,512,1024`` is exactly one outer window of the
authors' schedule.

* :func:`phantom_input` - :func:`spine_rt.phantoms.spine_mr` with its
  default (MRSpineSeg) geometry: 12 slices, about 1000 x 550 voxels.
* :func:`shaped_input` - a phantom of exactly ``shape``: drawn on a grid at
  least large enough to hold the spine (T9 to S1 needs about 300 mm
  superior-inferior), then cropped around the spine. Every voxel is non-zero
  (the phantom's noise floor), so the pipeline's crop to the non-zero extent
  keeps the whole volume.

**The model package** a benchmark runs when none is given:

* :func:`demo_package` - the trained demo package shipped at
  ``spine_rt/demo_model/`` when it is there (label agreement is meaningful
  with trained weights only).
* :func:`export_bench_package` - a seeded random-init SSHSNet package
  (``spine-rt export sshsnet --random-init``), the paper's patch sizes,
  exported into a folder the caller owns (a temporary one for ``spine-rt
  bench``). Needs torch and onnx (the ``[export]`` extra).

**The presets**: what ``spine-rt bench`` measures when options are left out
(default configurations and rounds). Two presets:

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
  :mod:`spine_rt.bench.instruments`).

A configuration of spine-rt fast is written ``backend[:precision]``, e.g.
``openvino:bf16``; the precision defaults to the pipeline's (fp32 on the CPU).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spine_rt.errors import InputError
from spine_rt.runtime.backends import BACKEND_NAMES


#: a phantom grid this large (slices, S-I, A-P voxels at 0.3448 mm) always holds T9..S1
_ROOMY_GRID = (1200, 640)
#: the largest input a benchmark draws (voxels)
MAX_VOXELS = 60_000_000


@dataclass(frozen=True, eq=False)
class BenchInput:
    """A scan for a benchmark.

    Attributes:
        image: float32 ``(slices, S-I, A-P)``.
        affine: 4x4 voxel -> RAS+ mm.
        description: what it is, for the report (``"phantom seed 0, ..."``).
    """

    image: np.ndarray
    affine: np.ndarray
    description: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.image.shape)  # type: ignore[return-value]

    @property
    def voxels(self) -> int:
        return int(self.image.size)

    def describe(self) -> dict[str, object]:
        return {"description": self.description, "shape": list(self.shape), "voxels": self.voxels,
                "spacing_mm": [round(float(s), 4) for s in np.linalg.norm(self.affine[:3, :3], axis=0)]}


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"12,512,1024"`` (also ``12x512x1024``) -> ``(12, 512, 1024)``.

    Raises:
        InputError: not three positive integers, fewer than 16 in-plane voxels,
            or more than :data:`MAX_VOXELS` voxels.
    """
    items = str(text).replace("x", ",").split(",")
    try:
        shape = tuple(int(item) for item in items)
    except ValueError:
        raise InputError(f"--shape {text!r}: expected three integers SLICES,SI,AP such as 12,512,1024") from None
    if len(shape) != 3 or shape[0] < 1 or shape[1] < 16 or shape[2] < 16:
        raise InputError(f"--shape {text!r}: expected SLICES,SI,AP with at least 1 slice and 16 x 16 voxels "
                         "in-plane, e.g. 12,512,1024")
    if shape[0] * shape[1] * shape[2] > MAX_VOXELS:
        raise InputError(f"--shape {text!r}: more than {MAX_VOXELS:,} voxels")
    return shape  # type: ignore[return-value]


def phantom_input(seed: int = 0) -> BenchInput:
    """The synthetic spine MR of ``seed`` in MRSpineSeg geometry (12 x ~1000 x ~550 voxels)."""
    from spine_rt.phantoms import spine_mr

    phantom = spine_mr(seed)
    return BenchInput(phantom.image, phantom.affine,
                      f"phantom seed {seed}, MRSpineSeg geometry {'x'.join(map(str, phantom.shape))}")


def shaped_input(shape: Sequence[int], seed: int = 0) -> BenchInput:
    """A synthetic spine MR of exactly ``shape`` ``(slices, S-I, A-P)`` at 4.4 x 0.3448 x 0.3448 mm.

    Raises:
        InputError: an invalid shape (see :func:`parse_shape`).
    """
    from spine_rt.phantoms import spine_mr

    wanted = parse_shape(",".join(str(int(s)) for s in shape))
    grid = (wanted[0], max(wanted[1], _ROOMY_GRID[0]), max(wanted[2], _ROOMY_GRID[1]))
    phantom = spine_mr(seed, shape=grid)
    start = _crop_start(phantom.labels, wanted)
    box = tuple(slice(s, s + n) for s, n in zip(start, wanted))
    affine = phantom.affine.copy()
    affine[:3, 3] = phantom.affine[:3, :3] @ np.asarray(start, float) + phantom.affine[:3, 3]
    image = np.ascontiguousarray(phantom.image[box])
    return BenchInput(image, affine, f"phantom seed {seed} cropped around the spine to {'x'.join(map(str, wanted))}")


def _crop_start(labels: np.ndarray, size: Sequence[int]) -> tuple[int, int, int]:
    """Start of a box of ``size`` centred on the labelled structures, inside the volume."""
    start = []
    for axis, length in enumerate(size):
        other = tuple(a for a in range(labels.ndim) if a != axis)
        present = np.flatnonzero(np.any(labels > 0, axis=other))
        centre = (present[0] + present[-1]) // 2 if present.size else labels.shape[axis] // 2
        start.append(int(min(max(centre - length // 2, 0), labels.shape[axis] - length)))
    return tuple(start)  # type: ignore[return-value]


#: the trained demo package, when the distribution ships one
DEMO_PACKAGE = Path(__file__).resolve().parents[1] / "demo_model"
#: preset and seed of the package exported when none is given
BENCH_PRESET = "tiny"
BENCH_SEED = 0
#: spatial patch sizes of the exported package; ``None``: the paper's (stage one 512 x 256 (S->I x A->P), stage two 192 x 192 x 12)
BENCH_PATCH_SIZES: dict[str, tuple[int, ...]] | None = None


def demo_package() -> Path | None:
    """The shipped demo package folder, or ``None`` when this installation has none."""
    return DEMO_PACKAGE if (DEMO_PACKAGE / "manifest.json").is_file() else None


def export_bench_package(folder: str | os.PathLike[str], preset: str = BENCH_PRESET, seed: int = BENCH_SEED,
                         fp16: bool = False) -> Path:
    """Export a random-init SSHSNet package of ``preset`` into ``folder`/sshsnet_<preset>``.

    Args:
        folder: an existing folder the caller owns (and removes).
        preset: ``"tiny"`` (default) or ``"full"``.
        seed: seed of the weights.
        fp16: also write the FP16 graphs (GPU backends).

    Returns:
        The package folder.

    Raises:
        EnvironmentProblem: torch or onnx is not installed.
    """
    from spine_rt.dependencies import require

    for module in ("torch", "onnx", "onnxscript"):
        require(module, "exporting the benchmark's random-init package")
    from spine_rt.export import export_package

    out = Path(folder) / f"sshsnet_{preset}"
    package = export_package("sshsnet", out=out, preset=preset, random_init=True, seed=seed,
                             precisions=["fp32", "fp16"] if fp16 else ["fp32"], patch_sizes=BENCH_PATCH_SIZES)
    return Path(package.root)


PRESETS: tuple[str, ...] = ("tiny", "full")
#: names accepted in ``baselines``
BASELINES: tuple[str, ...] = ("reference", "monai")
#: backends spine-rt can run a pipeline on: the runtime's backend names but ``auto`` (a choice, not an
#: engine; the tiny preset resolves it itself), then remote Triton servers
PIPELINE_BACKENDS: tuple[str, ...] = (*(name for name in BACKEND_NAMES if name != "auto"), "triton")


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
    from spine_rt.pipelines.runner_factory import PRECISIONS  # the precisions a pipeline runs in

    if precision and precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r} in {spec!r}; valid: {', '.join(PRECISIONS)}")
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
