"""Sliding-window inference with any callable as predictor.

``sliding_window_inference(inputs, predictor, patch_size)`` cuts ``inputs``
``(N, C, Z, Y, X)`` (or ``(N, C, Y, X)``) into windows planned by
:class:`PatchGrid`, runs ``predictor`` on fixed-size batches
``(batch_size, C, *patch_size)`` and blends the predictions with importance
weights into volumes of the input's size (or of each output's own resolution).

* **Any predictor**: a function of a batch returning one array, or a
  tuple/list/dict of arrays ``(batch_size, C_out, *window_out)``; each output
  may have its own resolution (``window_out = patch_size * scale`` with an exact
  scale, e.g. features at 1/4) and is stitched on its own grid.
* **numpy or torch**: numpy inputs give numpy outputs; torch tensors give
  torch tensors on the input's device (torch is imported only then).
* **Static shapes**: every predictor call gets exactly ``batch_size`` windows;
  the last batch is padded by repeating its last window and the padded
  predictions are dropped (TensorRT profiles and CUDA graphs need this).
* **ROI**: windows that do not touch ``roi`` never run; voxels no window
  covered get ``fill``.
* **Bounded memory**: ``accumulate_dtype="float16"`` halves the accumulator,
  ``slab=True`` keeps only the rows of the first spatial axis still being
  written and hands finished rows to ``consumers`` (see ``consumers``).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError
from spine_rt.patching.array_backend import ArrayBackend, backend_for, is_torch_tensor
from spine_rt.patching.grid import DEFAULT_OVERLAP, PatchGrid, windows_touching
from spine_rt.patching.importance import DEFAULT_SIGMA_SCALE, ImportanceMode, importance_profiles
from spine_rt.patching.outputs import OutputLayout
from spine_rt.patching.stitcher import SlabConsumer, Stitcher

#: dtypes an accumulator may have
ACCUMULATE_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class SlidingWindowResult:
    """What :func:`run_sliding_window` returns.

    Attributes:
        outputs: the stitched volumes in the predictor's structure; an output
            handed to a consumer is ``None`` here.
        grid: the windows that were planned (input resolution).
        windows_total: windows in the grid (per image).
        windows_run: windows that touched the ROI and ran (per image).
        predictor_calls: calls of the predictor, each with ``batch_size`` windows.
        accumulator_bytes: bytes of all accumulators (not counting results).
    """

    outputs: Any
    grid: PatchGrid
    windows_total: int
    windows_run: int
    predictor_calls: int
    accumulator_bytes: int

    @property
    def windows_skipped(self) -> int:
        """Windows outside the ROI that did not run (per image)."""
        return self.windows_total - self.windows_run


def sliding_window_inference(
    inputs: Any,
    predictor: Callable[[Any], Any],
    patch_size: int | Sequence[int],
    overlap: float | Sequence[float] = DEFAULT_OVERLAP,
    batch_size: int = 4,
    mode: str | ImportanceMode = ImportanceMode.GAUSSIAN,
    roi: Any = None,
    **options: Any,
) -> Any:
    """Run ``predictor`` window by window over ``inputs`` and return the stitched output(s).

    The same as :func:`run_sliding_window` (see there for every argument),
    returning only its ``outputs``.
    """
    return run_sliding_window(inputs, predictor, patch_size, overlap, batch_size, mode, roi, **options).outputs


def run_sliding_window(
    inputs: Any,
    predictor: Callable[[Any], Any],
    patch_size: int | Sequence[int],
    overlap: float | Sequence[float] = DEFAULT_OVERLAP,
    batch_size: int = 4,
    mode: str | ImportanceMode = ImportanceMode.GAUSSIAN,
    roi: Any = None,
    *,
    stride: int | Sequence[int | None] | None = None,
    alignment: int | Sequence[int] = 1,
    sigma_scale: float = DEFAULT_SIGMA_SCALE,
    fill: Any = 0.0,
    accumulate_dtype: Any = "float32",
    slab: bool = False,
    consumers: SlabConsumer | Sequence[SlabConsumer | None] | Mapping[str, SlabConsumer | None] | None = None,
    pad_value: float = 0.0,
) -> SlidingWindowResult:
    """Run ``predictor`` window by window over ``inputs``; the stitched outputs and what ran.

    Args:
        inputs: ``(N, C, Z, Y, X)`` or ``(N, C, Y, X)`` numpy array or torch tensor.
        predictor: called with ``(batch_size, C, *patch_size)`` (same kind,
            dtype and device as ``inputs``); returns an array ``(batch_size,
            C_out, *window_out)`` or a tuple/list/dict of them (numpy or torch).
        patch_size: window shape, one int for all spatial axes or one per axis.
        overlap: fraction of a window shared with its neighbour, ``[0, 1)``,
            one value or one per axis.
        batch_size: windows per predictor call (every call gets exactly this many).
        mode: importance weights, ``"gaussian"`` or ``"constant"``.
        roi: optional boolean mask of the spatial shape; windows that do not
            touch it do not run.
        stride: explicit window spacing in voxels per axis (``None`` entries
            use ``overlap``), e.g. ``(81, 81, 1)``.
        alignment: window starts are multiples of this (per axis), needed for
            outputs at ``1/alignment`` resolution.
        sigma_scale: Gaussian sigma as a fraction of the window size.
        fill: value where no window ran: a number, a per-channel vector, or
            one of those per output (sequence for tuple outputs, mapping for
            dict outputs).
        accumulate_dtype: ``"float32"`` or ``"float16"``; also the dtype of
            the returned volumes.
        slab: keep accumulators only for the rows of the first spatial axis
            still being written.
        consumers: receives finished rows of an output instead of returning
            it (:data:`SlabConsumer`, e.g. :class:`ArgmaxWriter`); one, or one
            per output (``None`` entries are returned as usual). Without
            ``slab`` a consumer gets the whole volume at the end.
        pad_value: value the image is padded with along axes where it is
            smaller than the patch (the padded part is cropped away).

    Returns:
        :class:`SlidingWindowResult`; ``outputs`` has the predictor's
        structure, each volume ``(N, C_out, *spatial * scale)``.

    Raises:
        InputError: inputs of the wrong kind or rank, invalid patch, overlap,
            stride, alignment, mode, batch size, dtype, ROI or fill, or
            predictor outputs that do not fit.
    """
    backend = backend_for(inputs)
    shape = tuple(int(s) for s in inputs.shape)
    spatial_rank = len(patch_size) if isinstance(patch_size, Sequence) else len(shape) - 2
    if spatial_rank < 1 or len(shape) != 2 + spatial_rank:
        raise InputError(
            f"inputs must be (N, C, *spatial) with {spatial_rank} spatial axes to match patch_size {patch_size!r} "
            f"(e.g. (N, C, Z, Y, X) for a 3-D patch), got shape {shape}"
        )
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    mode = ImportanceMode.parse(mode)
    dtype_name = _dtype_name(accumulate_dtype)
    grid = PatchGrid.plan(shape[2:], patch_size, overlap, stride, alignment)
    importance_profiles(grid.patch_size, mode, sigma_scale)  # validates sigma_scale early
    run = _windows_touching(roi, grid)

    padded = backend.pad(inputs, grid.padding, pad_value) if any(a or b for a, b in grid.padding) else inputs
    pad_before = np.asarray([before for before, _ in grid.padding])
    images = shape[0]
    build = functools.partial(
        _stitchers, backend, grid=grid, run=run, mode=mode, sigma_scale=sigma_scale, images=images,
        dtype_name=dtype_name, fill=fill, slab=slab, consumers=consumers,
    )  # fmt: skip
    if len(run) == 0:  # nothing to run: one call on the first window learns the output layout
        batch = _assemble(backend, padded, grid.window_starts()[:1] + pad_before, [(0, 0)], batch_size, grid.patch_size)
        layout = OutputLayout.inspect(predictor(batch), batch_size, grid.patch_size)
        stitchers, calls = build(layout), 1
    else:
        starts = grid.window_starts()[run] + pad_before
        items = [(k, image) for k in range(len(run)) for image in range(images)]
        layout, stitchers, calls = None, [], 0
        for first in range(0, len(items), batch_size):
            chunk = items[first : first + batch_size]
            returned = predictor(_assemble(backend, padded, starts, chunk, batch_size, grid.patch_size))
            calls += 1
            if layout is None:
                layout = OutputLayout.inspect(returned, batch_size, grid.patch_size)
                stitchers = build(layout)
            arrays = [backend.from_output(a) for a in layout.flatten(returned, calls)]
            for slot, (k, image) in enumerate(chunk):  # padded slots beyond the chunk are dropped
                for stitcher, array in zip(stitchers, arrays):
                    stitcher.add(k, image, array[slot])
    accumulator_bytes = sum(s.nbytes for s in stitchers)
    outputs = [s.finish() for s in stitchers]
    return SlidingWindowResult(layout.pack(outputs), grid, len(grid), len(run), calls, accumulator_bytes)


def _assemble(
    backend: ArrayBackend,
    padded: Any,
    starts: np.ndarray,
    chunk: list[tuple[int, int]],
    batch_size: int,
    patch_size: tuple[int, ...],
) -> Any:
    """A batch ``(batch_size, C, *patch)`` of the windows in ``chunk``, the last one repeated to fill it."""
    batch = backend.empty_like(padded, (batch_size, padded.shape[1], *patch_size))
    for slot in range(batch_size):
        k, image = chunk[min(slot, len(chunk) - 1)]
        window = tuple(slice(int(s), int(s) + p) for s, p in zip(starts[k], patch_size))
        batch[slot] = padded[(image, slice(None), *window)]
    return batch


def _stitchers(
    backend: ArrayBackend,
    layout: OutputLayout,
    *,
    grid: PatchGrid,
    run: np.ndarray,
    mode: ImportanceMode,
    sigma_scale: float,
    images: int,
    dtype_name: str,
    fill: Any,
    slab: bool,
    consumers: Any,
) -> list[Stitcher]:
    # a sequence is one fill per output for tuple/list outputs, else a per-channel vector
    per_output = layout.kind in (tuple, list)
    fills = layout.per_output(
        fill, "fill", lambda v: v is None or isinstance(v, numbers.Real) or (not per_output and _is_vector(v))
    )
    chosen = layout.per_output(consumers, "consumers", lambda v: v is None or callable(v))
    stitchers = []
    for spec, fill_value, consumer in zip(layout.specs, fills, chosen):
        output_grid = grid.scaled(spec.scale, spec.name)
        profiles = importance_profiles(output_grid.patch_size, mode, sigma_scale)
        fill_vector = _fill_vector(fill_value, spec.channels, spec.name)
        stitchers.append(
            Stitcher(
                backend,
                output_grid,
                run,
                profiles,
                images,
                spec.channels,
                backend.dtype(dtype_name),
                backend.from_host(fill_vector),
                slab=slab,
                consumer=consumer,
            )
        )
    return stitchers


def _windows_touching(roi: Any, grid: PatchGrid) -> np.ndarray:
    """C-order indices of the windows that touch ``roi`` (all windows without one)."""
    if roi is None:
        return np.arange(len(grid))
    if is_torch_tensor(roi):
        roi = roi.detach().cpu().numpy()
    roi = np.asarray(roi)
    if roi.shape != grid.image_shape:
        raise InputError(f"roi must be a boolean mask of the spatial shape {grid.image_shape}, got shape {roi.shape}")
    if roi.dtype != bool:
        if not np.issubdtype(roi.dtype, np.integer):
            raise InputError(f"roi must be a boolean mask, got dtype {roi.dtype}")
        roi = roi != 0
    return windows_touching(grid, roi)


def _dtype_name(value: Any) -> str:
    """``"float32"`` or ``"float16"`` from a name, a numpy dtype or a torch dtype."""
    name = str(value).removeprefix("torch.")
    try:
        name = np.dtype(name if _is_torch_dtype(value) else value).name
    except TypeError:
        pass
    if name not in ACCUMULATE_DTYPES:
        raise InputError(f"accumulate_dtype must be one of {', '.join(ACCUMULATE_DTYPES)}, got {value!r}")
    return name


def _is_torch_dtype(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


def _is_vector(value: Any) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str) and all(
        isinstance(v, numbers.Real) for v in np.asarray(value).reshape(-1).tolist()
    )


def _fill_vector(value: Any, channels: int, name: str) -> np.ndarray:
    vector = np.asarray(0.0 if value is None else value, dtype=np.float32).reshape(-1)
    if vector.size == 1:
        return np.full(channels, vector[0], np.float32)
    if vector.size != channels:
        raise InputError(f"fill for {name} has {vector.size} values, the output has {channels} channels")
    return vector
