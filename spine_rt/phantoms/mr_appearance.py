"""How a sagittal T2-weighted spine MR looks: tissue contrast, bias field, Rician noise.

Intensities are in arbitrary units before the scanner gain: cerebrospinal
fluid is about 1, fat about 0.8, a healthy disc nucleus 0.6-0.9, vertebral
marrow 0.3-0.5, muscle about 0.2, cortical bone and flowing blood near 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spine_rt.phantoms.partial_volume import Footprint
from spine_rt.phantoms.random_fields import smooth_noise
from spine_rt.phantoms.sagittal_solid import SagittalSolid

BONE_KINDS = ("body", "sacrum", "pedicle", "pillar", "lamina", "spinous", "sacral_arch")


@dataclass(frozen=True)
class MRContrast:
    """Tissue intensities of one synthetic scan (arbitrary units, before gain).

    ``nucleus`` maps a disc name (``"L4/L5"``) to its nucleus intensity
    (lower for degenerated discs); ``marrow`` maps a level name to its marrow
    intensity.
    """

    csf: float
    cord: float
    fat: float
    muscle: float
    cortex: float
    annulus: float
    vessel: float
    lung: float
    abdomen: float
    skin: float
    nucleus: dict[str, float]
    marrow: dict[str, float]


def sample_mr_contrast(rng: np.random.Generator, disc_names: list[str], level_names: list[str]) -> MRContrast:
    """A random T2-like contrast. Up to two of the lowest discs may be
    degenerated (darker nucleus), but every nucleus stays brighter than
    the brightest marrow."""
    marrow_base = rng.uniform(0.28, 0.42)
    marrow = {name: float(marrow_base * rng.uniform(0.92, 1.08)) for name in level_names}
    brightest_marrow = max(marrow.values())
    nucleus_base = rng.uniform(0.72, 0.95)
    nucleus = {name: float(nucleus_base * rng.uniform(0.92, 1.05)) for name in disc_names}
    lower_discs = [name for name in disc_names if name in ("L3/L4", "L4/L5", "L5/S1")]
    for name in lower_discs:
        if rng.random() < 0.3:
            nucleus[name] = float(max(brightest_marrow + 0.12, nucleus[name] * rng.uniform(0.55, 0.8)))
    return MRContrast(
        csf=1.0,
        cord=float(rng.uniform(0.38, 0.5)),
        fat=float(rng.uniform(0.7, 0.9)),
        muscle=float(rng.uniform(0.16, 0.26)),
        cortex=float(rng.uniform(0.03, 0.08)),
        annulus=float(rng.uniform(0.2, 0.3)),
        vessel=float(rng.uniform(0.03, 0.1)),
        lung=float(rng.uniform(0.02, 0.06)),
        abdomen=float(rng.uniform(0.3, 0.45)),
        skin=float(rng.uniform(0.4, 0.55)),
        nucleus=nucleus,
        marrow=marrow,
    )


def solid_intensity(
    contrast: MRContrast,
    solid: SagittalSolid,
    found: Footprint,
    slice_thickness_mm: float,
    texture: np.ndarray | None = None,
) -> np.ndarray:
    """Noise-free intensity inside ``solid`` on its footprint ``found``.

    ``texture`` ``(Y', Z')`` (zero mean, unit spread) roughens marrow and
    annulus. Returns an array that broadcasts to the footprint's
    ``(X', Y', Z')``. Lateral detail (disc nucleus, spinal cord, nerve
    roots) is averaged over three points across each slice's thickness.
    """
    depth = np.maximum(-found.distance, 0.0)
    fraction = found.fraction
    lateral_mm = found.lateral_mm
    kind = solid.kind
    if kind in BONE_KINDS:
        marrow = contrast.marrow.get(solid.name, contrast.marrow.get("S1", 0.4))
        if kind == "sacrum":
            marrow *= 1.1
        elif kind != "body":
            marrow *= 0.9
        if texture is not None:
            marrow = marrow * (1.0 + 0.06 * texture)
        rim = np.exp(-depth * (1.0 / (0.9 if kind in ("body", "sacrum") else 0.7)))
        return (marrow + (contrast.cortex - marrow) * rim)[None]
    if kind == "disc":
        nucleus = contrast.nucleus.get(solid.name, 0.7)
        across = (fraction - 0.5) * (1.0 / 0.32)
        in_plane = np.clip((depth - 0.5) * (1.0 / 0.9), 0.0, 1.0) * np.exp(-(across**4))
        nucleus_half_width = 0.65 * solid.half_width_mm
        lateral = _slab_average(lambda x: np.exp(-((x / nucleus_half_width) ** 4)), lateral_mm, slice_thickness_mm)
        annulus = contrast.annulus if texture is None else contrast.annulus * (1.0 + 0.08 * texture)
        return annulus + (nucleus - annulus) * in_plane[None] * lateral
    if kind == "canal":
        if solid.core_line is None:
            return np.full((1,) + depth.shape, contrast.csf, dtype=np.float32)
        offset = solid.core_offset(found.ap, found.si)[None]
        if solid.core_radius_mm > 0:  # the spinal cord
            radius = solid.core_radius_mm

            def cord(x: np.ndarray) -> np.ndarray:
                return np.clip((1.0 - np.sqrt(offset * offset + x * x) * (1.0 / radius)) * 4.0, 0.0, 1.0)

            weight = _slab_average(cord, lateral_mm, slice_thickness_mm)
            return contrast.csf + (contrast.cord - contrast.csf) * weight
        if not solid.name.startswith(("L", "S")):
            return np.full((1,) + depth.shape, contrast.csf, dtype=np.float32)
        # cauda equina: nerve roots lying in the back of the lumbar dural sac
        strands = 0.5 + 0.5 * np.cos(offset * 2.2)

        def roots(x: np.ndarray) -> np.ndarray:
            return np.exp(-(((offset - 2.5) * (1.0 / 2.5)) ** 2) - (x * (1.0 / 5.0)) ** 2)

        return contrast.csf * (1.0 - 0.45 * strands * _slab_average(roots, lateral_mm, slice_thickness_mm))
    if kind == "vessel":
        return np.full((1,) + depth.shape, contrast.vessel, dtype=np.float32)
    raise ValueError(f"no MR appearance for solid kind {kind!r}")


def _slab_average(profile, lateral_mm: np.ndarray, thickness: float) -> np.ndarray:
    """Mean of ``profile`` over three points across each slice's thickness."""
    offsets = (-thickness / 3.0, 0.0, thickness / 3.0)
    return sum(profile(lateral_mm + offset) for offset in offsets) * (1.0 / 3.0)


def bias_field(
    rng: np.random.Generator,
    in_plane_shape: tuple[int, int],
    n_slices: int,
    spacing: tuple[float, float, float],
    strength: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth multiplicative bias field, separable as ``(Y, Z)`` x ``(X,)``.

    Returns ``(in_plane, lateral)``: ``in_plane`` (float32 ``(Y, Z)``) has a
    slow random variation of relative size ``strength`` and the fall-off of
    a posterior spine coil (brighter at the back); ``lateral`` (``(X,)``) a
    gentle left-right gradient. With ``strength == 0`` both are ones.
    """
    if strength <= 0:
        return np.ones(in_plane_shape, dtype=np.float32), np.ones(n_slices, dtype=np.float32)
    rows, cols = in_plane_shape
    correlation = (120.0 / spacing[1], 80.0 / spacing[2])
    slow = smooth_noise(rng, in_plane_shape, correlation)
    ap_mm = np.arange(cols, dtype=np.float32) * spacing[2]
    coil_depth = float(rng.uniform(90.0, 160.0))
    coil = np.exp(-(ap_mm[-1] - ap_mm) * (1.0 / coil_depth))
    in_plane = np.exp(strength * (0.5 * slow + coil[None, :] - 0.5)).astype(np.float32)
    positions = (np.arange(n_slices) - 0.5 * (n_slices - 1)) * spacing[0]
    lateral = (1.0 + strength * 0.004 * float(rng.normal()) * positions).clip(0.5, 1.5).astype(np.float32)
    return in_plane, lateral


def add_rician_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise of standard
    deviation ``sigma`` in each channel (Rician statistics); float32, same shape."""
    if sigma <= 0:
        return image
    real = rng.standard_normal(image.shape, dtype=np.float32)
    real *= sigma
    real += image
    imaginary = rng.standard_normal(image.shape, dtype=np.float32)
    imaginary *= sigma
    np.multiply(real, real, out=real)
    np.multiply(imaginary, imaginary, out=imaginary)
    real += imaginary
    return np.sqrt(real, out=real)
