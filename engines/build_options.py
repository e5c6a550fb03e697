"""``BuildOptions``: what ``spine-rt build-engine`` was asked to do, checked in one place.

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

from dataclasses import dataclass
from pathlib import Path

from spine_rt.engines.shape_profile import BatchRange
from spine_rt.errors import InputError
from spine_rt.model_package import PRECISIONS
from spine_rt.runtime.devices import cuda_index, normalize_device

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
