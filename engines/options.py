"""What an engine is built for: the build options and the min/opt/max shape profiles.

Optimization profiles: the min/opt/max shape of every engine input.

A TensorRT engine built from a graph with a dynamic batch axis runs any
batch size inside the range it was built for. spine-rt's graphs have exactly
one dynamic axis, the batch (axis 0, ``None`` in the manifest); the spatial
sizes are fixed to the patch, so a profile is the manifest's input shape with
the batch axis replaced by min / opt / max::

    image (None, 21, 192, 192, 12), batch 1/4/4
      -> min (1, 21, 192, 192, 12)  opt (4, 21, 192, 192, 12)  max (4, 21, 192, 192, 12)

``BuildOptions``: what ``spine-rt build-engine`` was asked to do, checked in one place.

Every option defaults to ``None`` and is resolved here (as in Polygraphy: the
CLI passes ``None`` through, the library owns the defaults)::

    precision      fp16 (the package's strongly typed FP16 graphs; fp32 only when asked)
    batch          min 1, max DEFAULT_MAX_BATCH, opt = max
    workspace_mb   TensorRT's default (the device's memory)
    opt_level      TensorRT's default builder optimization level (3)
    device         cuda:0
    timing_cache   PKG/engines/timing-caches/<TensorRT version>-sm<compute capability>.cache
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine_rt.errors import InputError
from spine_rt.model_package import PRECISIONS, Stage
from spine_rt.runtime.devices import cuda_index, normalize_device


Shape = tuple[int, ...]


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes an engine accepts: ``1 <= min <= opt <= max``.

    ``opt`` is the batch TensorRT tunes its kernels for; the pipelines run a
    fixed batch (the last one padded), so ``opt == max`` is the usual choice.

    Raises:
        InputError: a size that is not a positive integer, or the order is broken
            (one line naming the numbers).
    """

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        for label, value in (("min", self.min), ("max", self.max), ("opt", self.opt)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{label} batch must be a positive integer, got {value!r}")
        if not self.min <= self.opt <= self.max:
            raise InputError(
                f"batch sizes must satisfy min <= opt <= max, got min {self.min}, opt {self.opt}, max {self.max}"
            )


@dataclass(frozen=True)
class ShapeRange:
    """The min / opt / max shape of one engine input (one entry of a TensorRT optimization profile).

    Attributes:
        name: the input's name in the graph.
        min / opt / max: full shapes, batch first, e.g. ``(1, 21, 192, 192, 12)``.
    """

    name: str
    min: Shape
    opt: Shape
    max: Shape

    def __post_init__(self) -> None:
        for label in ("min", "opt", "max"):
            object.__setattr__(self, label, tuple(int(size) for size in getattr(self, label)))
        if not len(self.min) == len(self.opt) == len(self.max):
            raise InputError(f"input {self.name!r}: min/opt/max shapes have different ranks")
        if any(not lo <= mid <= hi for lo, mid, hi in zip(self.min, self.opt, self.max)):
            raise InputError(f"input {self.name!r}: need min <= opt <= max on every axis, got {self.describe()}")

    def covers(self, shape: Sequence[int]) -> bool:
        """True when a tensor of ``shape`` fits this range (same rank, every size within min..max)."""
        return len(shape) == len(self.min) and all(lo <= size <= hi for lo, size, hi in zip(self.min, shape, self.max))

    def describe(self) -> str:
        """``image min (1, 3, 64, 64) opt (4, 3, 64, 64) max (4, 3, 64, 64)``."""
        return f"{self.name} min {self.min} opt {self.opt} max {self.max}"

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "min", "opt", "max"}`` with lists, for JSON."""
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShapeRange":
        """Inverse of :meth:`to_dict` (KeyError/TypeError on malformed data; callers turn them into InputError)."""
        return cls(name=str(data["name"]), min=tuple(data["min"]), opt=tuple(data["opt"]), max=tuple(data["max"]))


def stage_shape_ranges(stage: Stage, batch: BatchRange, stage_name: str = "stage") -> tuple[ShapeRange, ...]:
    """One :class:`ShapeRange` per input of ``stage``, in the manifest's input order.

    A dynamic batch axis (``None`` at axis 0) takes ``batch``; an input
    without a dynamic axis keeps its fixed shape for min, opt and max.

    Raises:
        InputError: an input with a dynamic axis other than the batch axis, or
            with a size that is not a positive integer.
    """
    ranges = []
    for entry in stage.inputs:
        shape = tuple(entry.shape)
        dynamic = [axis for axis, size in enumerate(shape) if size is None]
        if any(axis != 0 for axis in dynamic):
            raise InputError(
                f"stage {stage_name} input {entry.name!r} has dynamic axes {dynamic} in shape {shape}; only the "
                "batch axis (0) may be dynamic, the spatial sizes are fixed to the patch"
            )
        fixed = shape[1:] if dynamic else shape
        if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in fixed):
            raise InputError(f"stage {stage_name} input {entry.name!r} has an invalid shape {shape}")
        if dynamic:
            ranges.append(
                ShapeRange(entry.name, (batch.min, *fixed), (batch.opt, *fixed), (batch.max, *fixed))
            )
        else:
            ranges.append(ShapeRange(entry.name, fixed, fixed, fixed))
    if not ranges:
        raise InputError(f"stage {stage_name} lists no inputs in the manifest")
    return tuple(ranges)


def describe_profile(profile: Sequence[ShapeRange]) -> str:
    """All ranges of a profile on one line, separated by ``"; "``."""
    return "; ".join(r.describe() for r in profile) or "(no inputs)"


DEFAULT_PRECISION = "fp16"
DEFAULT_MIN_BATCH = 1
DEFAULT_MAX_BATCH = 4
DEFAULT_DEVICE = "cuda:0"
#: TensorRT's builder optimization levels.
OPT_LEVELS = range(0, 6)


@dataclass(frozen=True)
class BuildOptions:
    """Options of an engine build (``None`` = the default named in the module docstring).

    Attributes:
        stages: stage names to build (``None``: every stage of the package).
        folds: folds to build (``None``: every fold with a graph at ``precision``).
        precision: ``"fp16"`` or ``"fp32"``: which graph of the package is compiled.
        min_batch / opt_batch / max_batch: the batch range of the optimization profile.
        workspace_mb: TensorRT's workspace memory pool limit in MiB.
        opt_level: builder optimization level 0-5.
        version_compatible: build with TensorRT's VERSION_COMPATIBLE flag.
        timing_cache: timing cache file to load and update.
        rebuild: build even when a valid engine with the same key exists.
        device: the CUDA device to build for.

    Raises:
        InputError: an invalid value (one line naming it and the valid values).
    """

    stages: tuple[str, ...] | None = None
    folds: tuple[int, ...] | None = None
    precision: str | None = None
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    workspace_mb: int | None = None
    opt_level: int | None = None
    version_compatible: bool = False
    timing_cache: Path | None = None
    rebuild: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        if self.stages is not None:
            object.__setattr__(self, "stages", tuple(self.stages))
            if not self.stages:
                raise InputError("--stages needs at least one stage name")
        if self.folds is not None:
            object.__setattr__(self, "folds", tuple(self.folds))
            if not self.folds or any(_not_int(f) or f < 0 for f in self.folds):
                raise InputError(f"folds must be non-negative integers, got {self.folds!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; valid precisions: {', '.join(PRECISIONS)}")
        if self.workspace_mb is not None and (_not_int(self.workspace_mb) or self.workspace_mb < 1):
            raise InputError(f"workspace must be a positive number of MiB, got {self.workspace_mb!r}")
        if self.opt_level is not None and (_not_int(self.opt_level) or self.opt_level not in OPT_LEVELS):
            raise InputError(f"opt level must be an integer from 0 to 5, got {self.opt_level!r}")
        if self.timing_cache is not None:
            object.__setattr__(self, "timing_cache", Path(self.timing_cache))
        device = normalize_device(self.device if self.device is not None else DEFAULT_DEVICE)
        if cuda_index(device) is None:
            raise InputError("TensorRT engines are built on a CUDA device; use --device cuda or cuda:N, not cpu")
        _ = self.batch_range  # raises the one-line InputError for bad batch numbers now

    @property
    def resolved_precision(self) -> str:
        """``precision`` or the default ``"fp16"``."""
        return self.precision or DEFAULT_PRECISION

    @property
    def resolved_device(self) -> str:
        """``device`` in canonical form (``"cuda:N"``), default ``"cuda:0"``."""
        return normalize_device(self.device if self.device is not None else DEFAULT_DEVICE)

    @property
    def batch_range(self) -> BatchRange:
        """min / opt / max batch with defaults applied (``opt`` defaults to ``max``).

        A ``max`` left at its default grows to cover an explicit ``min``/``opt``.
        """
        low = DEFAULT_MIN_BATCH if self.min_batch is None else self.min_batch
        high = self.max_batch
        if high is None:
            explicit = [b for b in (self.min_batch, self.opt_batch) if isinstance(b, int) and not isinstance(b, bool)]
            high = max([DEFAULT_MAX_BATCH, *explicit])
        opt = high if self.opt_batch is None else self.opt_batch
        return BatchRange(low, opt, high)


def _not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)
