"""Unlabelled soft tissue around a sagittal spine MR: the background the spine sits in.

The background is a sagittal ``(Y, Z)`` map (rows superior -> inferior,
columns anterior -> posterior) laid out relative to the spine: air behind
the back, skin, subcutaneous fat, paraspinal muscle, epidural and
foraminal fat in the band of the spinal canal, psoas beside the vertebral
bodies, and in front of the spine the abdomen (bowel with fluid and gas)
below the diaphragm and lung above it. A second map varies the abdomen from
slice to slice. The aorta is added as solids (a flow void left of the
midline, in front of the spine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spine_rt.phantoms.mr_appearance import MRContrast
from spine_rt.phantoms.random_fields import smooth_noise
from spine_rt.phantoms.sagittal_solid import SagittalSolid
from spine_rt.phantoms.spine_shape import SpineShape


@dataclass(frozen=True)
class SoftTissue:
    """float32 ``(Y, Z)`` maps: ``near`` is the background close to the
    midline, ``far`` more than about 25 mm to the side (no foraminal fat,
    only muscle, where the canal is), ``variation`` how the bowel changes
    from slice to slice. Slice ``i`` gets
    ``near + lateral[i] * (far - near) + mix[i] * variation``."""

    near: np.ndarray
    far: np.ndarray
    variation: np.ndarray


def _reference_lines(spine: SpineShape, si: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anterior and posterior vertebral walls and canal depth (mm) at each row."""
    anterior, posterior = spine.wall_lines(si)
    centres = [0.5 * (body.upper.posterior[1] + body.lower.posterior[1]) for body in spine.vertebrae]
    depth = np.interp(si, centres + [spine.sacrum[1].lower.posterior[1]], list(spine.canal_depth_mm) + [8.0])
    return anterior, posterior, depth


def soft_tissue(
    rng: np.random.Generator,
    spine: SpineShape,
    in_plane_shape: tuple[int, int],
    spacing: tuple[float, float],
    contrast: MRContrast,
) -> SoftTissue:
    """The background of one scan on a ``(Y, Z)`` grid with ``spacing`` ``(sy, sz)`` mm."""
    rows, cols = in_plane_shape
    row_mm, col_mm = spacing
    pixel = 0.5 * (row_mm + col_mm)
    si = np.arange(rows, dtype=np.float64) * row_mm
    ap = (np.arange(cols, dtype=np.float32) * np.float32(col_mm))[None, :]
    anterior, posterior, canal_depth = _reference_lines(spine, si)

    # the back: spinous processes, a little muscle, then subcutaneous fat; buttocks below the sacrum
    lumbar_top = spine.vertebra("L1").upper.posterior[1]
    sacrum_mid = spine.sacrum[2].upper.posterior[1]
    lumbar = np.clip((si - lumbar_top + 40.0) / 60.0, 0.0, 1.0)
    fat = rng.uniform(6.0, 30.0) * (0.55 + 0.45 * lumbar)
    buttock = rng.uniform(25.0, 55.0) * np.clip((si - sacrum_mid) / 60.0, 0.0, 1.0)
    elements = canal_depth + 2.0 + 36.0 + rng.uniform(2.0, 10.0)
    skin_line = posterior + elements + fat + buttock
    skin_line = ndimage.gaussian_filter1d(skin_line, sigma=25.0 / row_mm, mode="nearest")
    fat_line = skin_line - 2.0 - fat
    canal_line = posterior + canal_depth + 2.5

    def anterior_of(line: np.ndarray) -> np.ndarray:
        """1 where ``ap`` is anterior of the line (per row), with a one-pixel ramp."""
        return np.clip((line.astype(np.float32)[:, None] - ap) * (1.0 / pixel) + 0.5, 0.0, 1.0)

    def texture(correlation_mm: tuple[float, float]) -> np.ndarray:
        return smooth_noise(rng, (rows, cols), (correlation_mm[0] / row_mm, correlation_mm[1] / col_mm))

    back = np.zeros((rows, cols), dtype=np.float32)
    back += anterior_of(skin_line) * contrast.skin
    fat_tissue = contrast.fat * (1.0 + 0.05 * texture((3.0, 3.0)))
    back += anterior_of(skin_line - 2.0) * (fat_tissue - back)
    muscle = contrast.muscle * (1.0 + 0.12 * texture((25.0, 1.5)))
    back += anterior_of(fat_line) * (muscle - back)
    canal_band = anterior_of(canal_line)
    foraminal_fat = contrast.fat * 0.8 * (1.0 + 0.1 * texture((2.0, 2.0)))
    near = back + canal_band * (foraminal_fat - back)
    far = back + canal_band * (muscle * 1.1 - back)

    # in front of the spine: lung above the diaphragm dome (behind it the
    # crura and the aorta), bowel below
    diaphragm = spine.vertebra("T12").lower.anterior[1] + rng.uniform(-15.0, 15.0)
    depth_in_front = anterior.astype(np.float32)[:, None] - ap
    dome = np.float32(diaphragm) - 0.8 * np.minimum(depth_in_front, 80.0)
    thorax = np.clip((dome - si.astype(np.float32)[:, None]) * (1.0 / 4.0), 0.0, 1.0)
    lung = thorax * np.clip((depth_in_front - 14.0) * (1.0 / 4.0), 0.0, 1.0)

    def bowel() -> np.ndarray:
        loops = np.abs(texture((6.0, 6.0)))
        walls = np.clip(1.0 - loops * 4.0, 0.0, 1.0)  # thin dark rims where the field crosses zero
        fluid = np.clip((texture((5.0, 5.0)) - 1.0) * 2.5, 0.0, 1.0)
        gas = np.clip((texture((7.0, 7.0)) - 1.6) * 3.0, 0.0, 1.0)
        fine = texture((1.5, 1.5))
        tissue = contrast.abdomen * (1.0 + 0.15 * loops + 0.08 * fine) + fluid * (0.75 - contrast.abdomen)
        tissue = tissue * (1.0 - 0.2 * walls)
        return tissue * (1.0 - gas) + 0.02 * gas

    bowel_a, bowel_b = bowel(), bowel()
    chest = contrast.muscle * 1.2 + lung * (contrast.lung + 0.03 * np.abs(texture((6.0, 6.0))) - contrast.muscle * 1.2)
    front_tissue = bowel_a + thorax * (chest - bowel_a)
    in_front = anterior_of(anterior - 3.0)
    maps = []
    for image in (near, far):
        image += anterior_of(posterior) * (contrast.muscle * 1.15 - image)
        image += anterior_of(anterior + 1.0) * (contrast.muscle * 0.7 - image)
        image += in_front * (front_tissue - image)
        maps.append(np.clip(image, 0.0, None))
    variation = in_front * (1.0 - thorax) * (bowel_b - bowel_a)
    return SoftTissue(maps[0], maps[1], variation.astype(np.float32))


def aorta_solids(spine: SpineShape, lateral_offset_mm: float, diameter_mm: float) -> list[SagittalSolid]:
    """The abdominal aorta as tube pieces in front of the vertebrae and discs
    from the top of the spine down to L4 (where it divides)."""
    solids = []
    gap = 3.0
    elements = []
    for body, disc in zip(spine.vertebrae, spine.discs):
        elements.append((body.name, body.upper, body.lower))
        if body.name == "L4":
            break
        elements.append((disc.name, disc.upper, disc.lower))
    for name, upper, lower in elements:
        corners = []
        for endplate in (upper, lower):
            front = np.asarray(endplate.anterior)
            forwards = front - np.asarray(endplate.posterior)
            forwards /= np.linalg.norm(forwards)
            corners.append((front + gap * forwards, front + (gap + diameter_mm) * forwards))
        outline = np.array([corners[0][1], corners[0][0], corners[1][0], corners[1][1]])
        front_mid = 0.5 * (outline[0] + outline[3])
        back_mid = 0.5 * (outline[1] + outline[2])
        solids.append(
            SagittalSolid(
                kind="vessel",
                name=name,
                outline=outline,
                corner_radius_mm=0.0,
                half_width_mm=0.5 * diameter_mm,
                axis=((float(front_mid[0]), float(front_mid[1])), (float(back_mid[0]), float(back_mid[1]))),
                lateral_offset_mm=lateral_offset_mm,
                edge_radius_mm=0.0,
                width_profile=(0.5, 0.5),
            )
        )
    return solids
