"""What a predictor returns: one array, or a tuple/list/dict of arrays at their own resolutions.

:class:`OutputLayout` is read from the first predictor call: the structure,
and for every output its channel count and its *scale*, the exact fraction
``output window shape / input window shape`` per spatial axis (a stage-one
network may return features at ``1/4`` and logits at ``1``). Later calls are
checked against it, and the stitched volumes are packed back into the same
structure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from spine_rt.errors import InputError


@dataclass(frozen=True)
class OutputSpec:
    """One output of the predictor.

    Attributes:
        key: index in the returned tuple/list, key in the returned dict, or
            ``None`` when the predictor returns a single array.
        channels: ``C`` of the output ``(B, C, *window)``.
        window_shape: spatial shape of the output for one window.
        scale: per spatial axis, output voxels per input voxel (exact).
    """

    key: int | str | None
    channels: int
    window_shape: tuple[int, ...]
    scale: tuple[Fraction, ...]

    @property
    def name(self) -> str:
        """How error messages call this output."""
        return "the predictor output" if self.key is None else f"predictor output {self.key!r}"


@dataclass(frozen=True)
class OutputLayout:
    """The structure of the predictor's return value and one :class:`OutputSpec` per output."""

    kind: type  # numpy/torch array class, tuple, list or dict
    specs: tuple[OutputSpec, ...]

    @classmethod
    def inspect(cls, returned: Any, batch_size: int, patch_size: Sequence[int]) -> OutputLayout:
        """Read the layout from the first return value of the predictor.

        Raises:
            InputError: an output that is not ``(batch_size, C, *spatial)`` with
                the patch's number of spatial axes, or an empty structure.
        """
        kind, keys, arrays = _flatten(returned)
        if not arrays:
            raise InputError("the predictor returned an empty structure; it must return arrays (B, C, *spatial)")
        specs = []
        for key, array in zip(keys, arrays):
            probe = OutputSpec(key, 0, (), ())
            shape = _shape_of(array, probe.name)
            if len(shape) != 2 + len(patch_size) or shape[0] != batch_size:
                raise InputError(
                    f"{probe.name} has shape {shape}; expected ({batch_size}, C, {len(patch_size)} spatial axes) "
                    f"for a batch of {batch_size} windows of shape {tuple(patch_size)}"
                )
            window = tuple(int(s) for s in shape[2:])
            scale = tuple(Fraction(w, p) for w, p in zip(window, patch_size))
            specs.append(OutputSpec(key, int(shape[1]), window, scale))
        return cls(kind, tuple(specs))

    def flatten(self, returned: Any, call: int) -> list[Any]:
        """The outputs of a later call, in layout order, checked against the first call's shapes."""
        kind, keys, arrays = _flatten(returned)
        if kind is not self.kind or tuple(keys) != tuple(s.key for s in self.specs):
            raise InputError(f"predictor call {call} returned a different structure than the first call")
        for spec, array in zip(self.specs, arrays):
            shape = tuple(int(s) for s in _shape_of(array, spec.name)[1:])
            if shape != (spec.channels, *spec.window_shape):
                raise InputError(
                    f"{spec.name} changed shape on call {call}: {shape} per window, the first call gave "
                    f"{(spec.channels, *spec.window_shape)}"
                )
        return arrays

    def pack(self, values: Sequence[Any]) -> Any:
        """Stitched volumes in the predictor's structure (an array, tuple, list or dict)."""
        if self.kind is dict:
            return {spec.key: value for spec, value in zip(self.specs, values)}
        if self.kind in (tuple, list):
            return self.kind(values)
        return values[0]

    def per_output(self, value: Any, what: str, is_leaf) -> list[Any]:
        """Spread an option (``fill``, ``consumers``) given once or per output onto the outputs.

        ``is_leaf(value)`` says whether ``value`` applies to one output as it
        is. For a tuple/list layout a sequence gives one entry per output; for a
        dict layout a mapping does (missing keys get ``None``).
        """
        if is_leaf(value):
            return [value] * len(self.specs)
        if self.kind is dict and isinstance(value, Mapping):
            unknown = set(value) - {s.key for s in self.specs}
            if unknown:
                known = [s.key for s in self.specs]
                raise InputError(f"{what} names unknown outputs {sorted(map(str, unknown))}; outputs: {known}")
            return [value.get(s.key) for s in self.specs]
        if self.kind in (tuple, list) and isinstance(value, Sequence) and len(value) == len(self.specs):
            return list(value)
        raise InputError(f"{what} must be given once or once per predictor output ({len(self.specs)}), got {value!r}")


def _flatten(returned: Any) -> tuple[type, list[Any], list[Any]]:
    if isinstance(returned, Mapping):
        keys = list(returned)
        return dict, keys, [returned[k] for k in keys]
    if isinstance(returned, (tuple, list)):
        return type(returned) if type(returned) in (tuple, list) else tuple, list(range(len(returned))), list(returned)
    return type(returned), [None], [returned]


def _shape_of(array: Any, name: str) -> tuple[int, ...]:
    shape = getattr(array, "shape", None)
    if shape is None:
        raise InputError(f"{name} is a {type(array).__name__}, not an array of shape (B, C, *spatial)")
    return tuple(int(s) for s in shape)
