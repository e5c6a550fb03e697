"""Optimization profiles: the min/opt/max shape of every engine input.

A TensorRT engine built from a graph with a dynamic batch axis runs any
batch size inside the range it was built for. spine-rt's graphs have exactly
one dynamic axis, the batch (axis 0, ``None`` in the manifest); the spatial
sizes are fixed to the patch, so a profile is the manifest's input shape with
the batch axis replaced by min / opt / max::

    image (None, 21, 192, 192, 12), batch 1/4/4
      -> min (1, 21, 192, 192, 12)  opt (4, 21, 192, 192, 12)  max (4, 21, 192, 192, 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spine_rt.errors import InputError
from spine_rt.model_package import Stage

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
