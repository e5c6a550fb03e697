"""Synthetic sagittal T2 spine MR volumes with exact MRSpineSeg labels.

:func:`spine_mr` draws a spine from T7 to the sacrum (T9..S labelled, with
the MRSpineSeg ids of SEEDS.md), places it in a field of view, renders every
structure with partial volume through thick sagittal slices, lays it in
unlabelled soft tissue (spinal canal and cord, posterior elements, aorta,
muscle, fat, bowel, lung), and adds a smooth bias field and Rician noise.

Axis order and affine
---------------------
Arrays are indexed ``(X, Y, Z)``:

* ``X``: sagittal slice, from the patient's left to right (4.4 mm apart by
  default),
* ``Y``: superior -> inferior (0.3448 mm by default),
* ``Z``: anterior -> posterior (0.3448 mm by default).

So ``image[i]`` is one sagittal slice as it is usually shown (head up,
face to the left). The affine maps voxel indices to RAS+ world mm
(nibabel's convention), centred on the volume::

    affine = [[sx,  0,   0,  -sx (X-1)/2],
              [ 0,  0, -sz,   sz (Z-1)/2],
              [ 0, -sy,  0,   sy (Y-1)/2],
              [ 0,  0,   0,   1        ]]

hence ``nibabel.aff2axcodes(affine) == ("R", "I", "P")`` and
``nibabel.affines.voxel_sizes(affine) == spacing``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from spine_rt.anatomy.label_tables import MR_SPINE_LABELS, label_of
from spine_rt.errors import InputError
from spine_rt.phantoms.mr_appearance import add_rician_noise, bias_field, sample_mr_contrast, solid_intensity
from spine_rt.phantoms.mr_soft_tissue import aorta_solids, soft_tissue
from spine_rt.phantoms.partial_volume import SliceStack, footprint
from spine_rt.phantoms.random_fields import smooth_noise
from spine_rt.phantoms.spine_shape import SpineShape, sample_spine_shape
from spine_rt.phantoms.spine_solids import spine_solids

#: MRSpineSeg geometry after SSHSNet's resampling: (slice, in-plane, in-plane) mm.
DEFAULT_SPACING_MM: tuple[float, float, float] = (4.4, 0.3448, 0.3448)
DEFAULT_SLICES = 12
#: Ranges of the random field of view (mm): superior-inferior, anterior-posterior.
FIELD_OF_VIEW_SI_MM = (310.0, 380.0)
FIELD_OF_VIEW_AP_MM = (155.0, 240.0)
_MARGIN_MM = 10.0


@dataclass(frozen=True, eq=False)
class SpinePhantom:
    """One synthetic sagittal spine MR.

    * ``image``: float32 ``(X, Y, Z)``, arbitrary scanner units (non-negative,
      a random gain; cerebrospinal fluid is brightest).
    * ``labels``: uint8 ``(X, Y, Z)``, MRSpineSeg ids 0..19 (see
      :data:`~spine_rt.anatomy.label_tables.MR_SPINE_LABELS`); a
      voxel gets a structure's id where that structure fills at least half
      of it (the largest filler wins).
    * ``affine``: float64 ``(4, 4)``, voxel -> RAS+ world mm; axis codes
      ``("R", "I", "P")``.
    * ``spacing``: ``(sx, sy, sz)`` mm, the voxel size along ``(X, Y, Z)``.
    * ``spine``: the exact sagittal geometry, in mm in the in-plane frame of
      the grid: a point ``(ap, si)`` lies at voxel ``(k, j) = (ap / sz, si / sy)``.
    * ``midline_mm``: the spine's left-right centre, ``i = midline_mm / sx``.
    * ``seed``: the seed it was drawn from.

    It unpacks as ``image, labels, affine = phantom``.
    """

    image: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, float, float]
    spine: SpineShape
    midline_mm: float
    seed: int

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.image, self.labels, self.affine))

    def __repr__(self) -> str:
        return f"SpinePhantom(seed={self.seed}, shape={self.shape}, spacing={self.spacing})"

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]

    @property
    def label_names(self) -> dict[int, str]:
        return dict(MR_SPINE_LABELS)

    def true_geometry(self, world: np.ndarray | None = None) -> dict[str, object]:
        """Exact heights (mm), endplate angles and lordosis (deg) of this phantom
        (:func:`~spine_rt.phantoms.spine_truth.true_geometry`)."""
        from spine_rt.phantoms.spine_truth import true_geometry

        return true_geometry(self, world)


def sagittal_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """The centred voxel -> RAS+ affine of an ``(X, Y, Z)`` = (L->R, S->I, A->P) grid."""
    sx, sy, sz = spacing
    n_x, n_y, n_z = shape
    return np.array(
        [
            [sx, 0.0, 0.0, -sx * (n_x - 1) / 2.0],
            [0.0, 0.0, -sz, sz * (n_z - 1) / 2.0],
            [0.0, -sy, 0.0, sy * (n_y - 1) / 2.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_triple(name: str, value: object, kind: type) -> tuple:
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name} must be three numbers (X, Y, Z), got {value!r}") from None
    if len(items) != 3 or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in items):
        raise InputError(f"{name} must be three numbers (X, Y, Z), got {value!r}")
    if kind is int and any(not isinstance(v, numbers.Integral) for v in items):
        raise InputError(f"{name} must be three integers (X, Y, Z), got {value!r}")
    return tuple(kind(v) for v in items)


def _check_options(
    shape: object, spacing: object, noise: object, bias: object
) -> tuple[tuple[int, int, int] | None, tuple[float, float, float], float | None, float | None]:
    if spacing is None:
        spacing_mm = DEFAULT_SPACING_MM
    else:
        spacing_mm = _check_triple("spacing", spacing, float)
        if not all(math.isfinite(v) and v > 0 for v in spacing_mm):
            raise InputError(f"spacing must be positive and finite (mm), got {spacing!r}")
        if spacing_mm[0] > 20.0 or max(spacing_mm[1:]) > 8.0:
            raise InputError(
                f"spacing {spacing_mm} mm is too coarse for a spine (at most 20 mm between slices, 8 mm in-plane)"
            )
    grid = None
    if shape is not None:
        grid = _check_triple("shape", shape, int)
        if grid[0] < 1 or grid[1] < 16 or grid[2] < 16:
            raise InputError(f"shape must be at least (1, 16, 16) voxels, got {shape!r}")
        if grid[0] * grid[1] * grid[2] > 60_000_000:
            raise InputError(f"shape {grid} is too large (more than 60 million voxels)")
    for name, value, high in (("noise", noise, 1.0), ("bias", bias, 1.0)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0.0 <= value <= high):
            raise InputError(f"{name} must be a number in [0, {high}] or None, got {value!r}")
    return grid, spacing_mm, (None if noise is None else float(noise)), (None if bias is None else float(bias))


def _place(
    rng: np.random.Generator, spine: SpineShape, grid: tuple[int, int, int] | None, spacing: tuple[float, float, float],
    extra_field_mm: float | None = None,
) -> tuple[SpineShape, SliceStack]:
    """Turn the spine near-vertical, choose the field of view and put the spine in it.

    ``extra_field_mm`` (only with ``grid=None``): the superior-inferior field of
    view grows by a uniform 0..``extra_field_mm`` mm, which the placement below
    splits at random between above T9 and below S1. None keeps the standard
    placement (and its random draws) unchanged.
    """
    top = spine.vertebra("T9").upper.midpoint
    bottom = spine.s1_endplate.midpoint
    direction = math.degrees(math.atan2(bottom[1] - top[1], bottom[0] - top[0]))
    spine = spine.rotated(90.0 + rng.uniform(-5.0, 5.0) - direction, about=bottom)

    labelled = np.concatenate(
        [spine.vertebra(name).outline() for name in ("T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")]
        + [disc.outline() for disc in spine.discs]
    )
    ap_low, si_low = labelled.min(axis=0)
    ap_high, si_high = labelled.max(axis=0)
    need_si = float(si_high - si_low) + 2 * _MARGIN_MM
    need_ap = float(ap_high - ap_low) + 2 * _MARGIN_MM
    n_slices = DEFAULT_SLICES if grid is None else grid[0]
    random_si = rng.uniform(*FIELD_OF_VIEW_SI_MM)
    extra_si = rng.uniform(0.0, 10.0)
    random_ap = rng.uniform(*FIELD_OF_VIEW_AP_MM)
    if grid is None:
        fov_si = max(random_si, need_si + extra_si)
        if extra_field_mm is not None:
            fov_si += rng.uniform(0.0, extra_field_mm)
        fov_ap = max(random_ap, need_ap + 60.0)
        grid = (n_slices, round(fov_si / spacing[1]) + 1, round(fov_ap / spacing[2]) + 1)
    fov_si = (grid[1] - 1) * spacing[1]
    fov_ap = (grid[2] - 1) * spacing[2]
    if fov_si < need_si or fov_ap < need_ap:
        raise InputError(
            f"a field of view of {fov_si:.0f} x {fov_ap:.0f} mm (shape x spacing) cannot hold T9 to S1: "
            f"need at least {need_si:.0f} x {need_ap:.0f} mm (superior-inferior x anterior-posterior)"
        )
    top_at = _MARGIN_MM + rng.uniform(0.0, fov_si - need_si)
    back_at = fov_ap - rng.uniform(55.0, 95.0)
    back_at = min(max(back_at, need_ap - _MARGIN_MM), fov_ap - _MARGIN_MM)
    spine = spine.shifted(back_at - float(ap_high), top_at - float(si_low))
    midline = 0.5 * (n_slices - 1) * spacing[0] + rng.uniform(-4.0, 4.0)
    return spine, SliceStack(grid, spacing, midline)


def spine_mr(
    seed: int = 0,
    *,
    shape: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] | None = None,
    noise: float | None = None,
    bias: float | None = None,
    extra_field_mm: float | None = None,
) -> SpinePhantom:
    """A synthetic sagittal T2 spine MR with all 19 MRSpineSeg structures labelled.

    Parameters
    ----------
    seed:
        Non-negative integer; the same seed (and options) gives identical
        arrays. Anatomy, placement, appearance and noise use separate random
        streams, so ``noise=0`` or another ``shape`` keep the same anatomy.
    shape:
        Voxel grid ``(X, Y, Z)``; by default 12 slices and a random field of
        view of about 310-380 mm (superior-inferior) x 155-240 mm
        (anterior-posterior), i.e. roughly 900-1100 x 450-700 voxels at the
        default spacing. The field of view (``shape`` x ``spacing``) must
        hold T9 to S1.
    spacing:
        Voxel size ``(sx, sy, sz)`` in mm, default ``(4.4, 0.3448, 0.3448)``.
        A coarser in-plane spacing with ``shape=None`` gives a small, fast
        volume of the same anatomy, e.g. ``spacing=(4.4, 2.0, 2.0)``.
    noise:
        Rician noise level relative to the cerebrospinal fluid signal
        (random 0.03-0.07 by default; 0 for a noise-free image).
    bias:
        Strength of the smooth multiplicative bias field (random 0.15-0.35
        by default; 0 for none).
    extra_field_mm:
        More variety of field of view, for training (``shape=None`` only): the
        superior-inferior field of view grows by a random 0..``extra_field_mm``
        mm (at most 200), split at random above T9 and below S1, so that more
        or less of the spine and tissue shows beyond the labelled levels. None
        (the default) draws exactly the phantoms drawn without this option.

    Returns
    -------
    SpinePhantom
        See its docstring for fields, axis order ``(X, Y, Z)`` = (L->R,
        S->I, A->P) and the affine (``aff2axcodes == ("R", "I", "P")``).

    Raises
    ------
    InputError
        A negative or non-integer seed, a malformed or too small ``shape``,
        a non-positive ``spacing``, ``noise``/``bias`` outside [0, 1],
        ``extra_field_mm`` outside [0, 200] or given with a ``shape``.
    """
    seed = _check_seed(seed)
    grid, spacing_mm, noise_level, bias_strength = _check_options(shape, spacing, noise, bias)
    if extra_field_mm is not None:
        if (isinstance(extra_field_mm, bool) or not isinstance(extra_field_mm, numbers.Real)
                or not 0.0 <= extra_field_mm <= 200.0):
            raise InputError(f"extra_field_mm must be a number of mm in [0, 200] or None, got {extra_field_mm!r}")
        if grid is not None:
            raise InputError("extra_field_mm varies the random field of view: give it without a shape")
    anatomy_rng, placement_rng, appearance_rng, noise_rng = (
        np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(4)
    )

    spine = sample_spine_shape(
        anatomy_rng,
        top_level="T7",
        sacral_slope_deg=anatomy_rng.uniform(28.0, 44.0),
        lordosis_deg=anatomy_rng.uniform(36.0, 60.0),
    )
    aorta_side = anatomy_rng.uniform(-16.0, -8.0)
    aorta_diameter = anatomy_rng.uniform(16.0, 24.0)
    spine, stack = _place(placement_rng, spine, grid, spacing_mm,
                          None if extra_field_mm is None else float(extra_field_mm))
    solids = spine_solids(spine) + aorta_solids(spine, aorta_side, aorta_diameter)

    contrast = sample_mr_contrast(
        appearance_rng,
        [disc.name for disc in spine.discs],
        [body.name for body in spine.vertebrae + spine.sacrum],
    )
    default_noise = appearance_rng.uniform(0.03, 0.07)
    default_bias = appearance_rng.uniform(0.15, 0.35)
    gain = appearance_rng.uniform(300.0, 3000.0)
    noise_level = default_noise if noise_level is None else noise_level
    bias_strength = default_bias if bias_strength is None else bias_strength

    n_slices, n_rows, n_cols = stack.shape
    tissue = soft_tissue(appearance_rng, spine, (n_rows, n_cols), stack.spacing[1:], contrast)
    slice_mix = np.clip(0.5 + 0.5 * np.cumsum(appearance_rng.normal(0.0, 0.35, n_slices)), 0.0, 1.0)
    in_plane_bias, lateral_bias = bias_field(appearance_rng, (n_rows, n_cols), n_slices, stack.spacing, bias_strength)

    marrow_texture = smooth_noise(appearance_rng, (n_rows, n_cols), 0.8 / np.asarray(stack.spacing[1:]))
    weighted = np.zeros(stack.shape, dtype=np.float32)
    filled = np.zeros(stack.shape, dtype=np.float32)
    labels = np.zeros(stack.shape, dtype=np.uint8)
    best = np.zeros(stack.shape, dtype=np.float32)
    for solid in solids:
        found = footprint(stack, solid)
        if found is None:
            continue
        window = found.window
        texture = marrow_texture[window[1:]]
        intensity = solid_intensity(contrast, solid, found, stack.spacing[0], texture)
        weighted[window] += found.occupancy * intensity
        filled[window] += found.occupancy
        label = label_of(solid.kind, solid.name)
        if label:
            take = (found.occupancy >= 0.5) & (found.occupancy > best[window])
            labels[window][take] = label
            best[window] = np.where(take, found.occupancy, best[window])

    beside = np.abs(np.arange(n_slices) * stack.spacing[0] - stack.midline_mm)
    lateral_mix = np.clip((beside - 16.0) / 12.0, 0.0, 1.0).astype(np.float32)[:, None, None]
    background = tissue.near[None] + lateral_mix * (tissue.far - tissue.near)[None]
    background += slice_mix.astype(np.float32)[:, None, None] * tissue.variation[None]
    background *= np.clip(1.0 - filled, 0.0, None)
    background += weighted
    image = background
    image /= np.maximum(filled, 1.0)
    image *= (gain * in_plane_bias)[None]
    if bias_strength > 0:
        image *= lateral_bias[:, None, None]
    image = add_rician_noise(noise_rng, image, noise_level * gain * contrast.csf)

    return SpinePhantom(
        image=image.astype(np.float32, copy=False),
        labels=labels,
        affine=sagittal_affine(stack.shape, stack.spacing),
        spacing=stack.spacing,
        spine=spine,
        midline_mm=stack.midline_mm,
        seed=seed,
    )
