"""QC pictures: what a segmentation looks like, for a person to check at a glance.

* :func:`mr_qc_picture` - a few sagittal slices (the centre of the labelled
  slices and ``slices_each_side`` on each side), shown with the patient
  facing left and the head up, square millimetres, labels overlaid in
  colour and named at the centre of their largest part (names from the
  manifest), orientation letters, a scale bar, a legend, and a notice when
  the bundled phantom-only model made the labels.
* :func:`xray_qc_picture` - the X-ray with the mask overlaid, the fitted
  endplates (vertebrae yellow, S1 red), femoral-head circles, the hip axis
  and its line to the S1 midpoint, level names, and the key angles with
  their normal-range flags.

Both write a PNG atomically and need pillow (imported when called).
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.atomic_write import write_file_atomic
from spine_rt.errors import InputError
from spine_rt.measure.lumbar_measurement import LumbarMeasurement
from spine_rt.measure.normal_ranges import flag_value

#: height of one MR panel and the longer side of an X-ray picture (pixels)
MR_PANEL_HEIGHT = 560
XRAY_MAX_SIDE = 1024
OVERLAY_ALPHA = 0.4
#: the values written on an X-ray, in this order
XRAY_KEY_VALUES = ("PI", "PT", "SS", "LL", "PI-LL", "L4S1", "LDI", "RLL")


def label_colours(count: int) -> np.ndarray:
    """``(count, 3)`` uint8 distinct colours (golden-ratio hue steps); row 0 (background) is black."""
    colours = np.zeros((max(count, 1), 3), np.uint8)
    for index in range(1, count):
        hue = (index * 0.618033988749895) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
        colours[index] = (round(255 * red), round(255 * green), round(255 * blue))
    return colours


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _grey_8bit(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    foreground = finite[finite != 0] if np.any(finite != 0) else finite
    if foreground.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(foreground, (1.0, 99.0))
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)


def _overlay(grey: np.ndarray, labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)
    inside = labels > 0
    tint = colours[np.clip(labels, 0, len(colours) - 1)].astype(np.float32)
    rgb[inside] = (1.0 - OVERLAY_ALPHA) * rgb[inside] + OVERLAY_ALPHA * tint[inside]
    return rgb.astype(np.uint8)


def _text(draw, position, text: str, font, fill=(255, 255, 255)) -> None:
    draw.text(position, text, font=font, fill=fill, stroke_width=2, stroke_fill=(0, 0, 0))


def value_line(name: str, value: float | None) -> str:
    """``"PI 52.3° (normal)"``; ``"L4S1 38.0°"`` for values without a range; ``"PT n/a"``."""
    if value is None:
        return f"{name} n/a"
    flag = flag_value(name, value)
    text = f"{name} {value:.1f}{'%' if name == 'LDI' else '°'}"
    return text if flag == "no range" else f"{text} ({flag})"


def _save_png(picture, path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InputError(f"{target}: a QC picture is a PNG; the name must end in .png")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: the folder for the QC picture does not exist")
    return write_file_atomic(target, lambda temporary: picture.save(temporary, format="PNG"), suffix=".png")


#: the notice drawn on QC pictures made with the bundled phantom-only model
PHANTOM_ONLY_NOTICE = "bundled demo model, trained on phantoms only: for trying the software, not for use"
SCALE_BAR_CHOICES_MM = (100, 50, 20, 10, 5, 2, 1)


def _largest_part_centre(mask: np.ndarray) -> tuple[float, float]:
    """``(row, column)`` centre of the largest connected part of a 2D mask (a split label is named there)."""
    from scipy import ndimage

    parts, count = ndimage.label(mask)
    if count > 1:
        sizes = np.bincount(parts.ravel())[1:]
        mask = parts == int(np.argmax(sizes)) + 1
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean())


def _scale_bar(draw, panel_left: int, bottom: int, width: int, pixels_per_mm: float, font) -> None:
    """A white bar of a round length in mm (the longest under a third of the panel), labelled."""
    length_mm = next((mm for mm in SCALE_BAR_CHOICES_MM if mm * pixels_per_mm <= width / 3), None)
    if length_mm is None:
        return
    length = length_mm * pixels_per_mm
    x0, y = panel_left + 8, bottom - 10
    draw.rectangle([x0, y - 3, x0 + length, y], fill=(255, 255, 255), outline=(0, 0, 0))
    _text(draw, (x0, y - 18), f"{length_mm} mm", font)


def _orientation_letters(draw, left: int, top: int, width: int, height: int, font) -> None:
    """S/I at the top/bottom, A/P at the left/right of a sagittal panel (rows head to feet, columns front to back)."""
    _text(draw, (left + width // 2 - 4, top + 2), "S", font, (255, 255, 0))
    _text(draw, (left + width // 2 - 4, top + height - 34), "I", font, (255, 255, 0))
    _text(draw, (left + 4, top + height // 2 - 6), "A", font, (255, 255, 0))
    _text(draw, (left + width - 14, top + height // 2 - 6), "P", font, (255, 255, 0))


def mr_qc_picture(image: Any, labels: np.ndarray, names: Mapping[int, str], path: str | os.PathLike,
                  slices_each_side: int = 1, phantom_only: bool = False) -> Path:
    """Sagittal slices of an MR with its labels, side by side, as a PNG.

    Each panel has its orientation letters (S/I, A/P), a scale bar in mm and
    the structure names at the centre of each label's largest part in that
    slice; a legend on the right lists the colour of every structure found.

    Args:
        image: the scan (:class:`spine_rt.io.Image`: ``array`` ``(I, J, K)``, ``affine``).
        labels: ``(I, J, K)`` label map on the same grid.
        names: label id -> structure name.
        path: the PNG to write (its folder must exist).
        slices_each_side: panels on each side of the centre slice.
        phantom_only: draw :data:`PHANTOM_ONLY_NOTICE` (the bundled demo model made the labels).

    Returns:
        the written path.

    Raises:
        InputError: labels of another shape, a bad destination.
    """
    from PIL import Image as PillowImage, ImageDraw

    from spine_rt.io import AxisReorientation

    array = np.asarray(image.array, dtype=np.float32)
    if labels.shape != array.shape:
        raise InputError(f"labels of shape {labels.shape} do not match the image's shape {array.shape}")
    # axes (S->I, A->P, L->R): rows head to feet, columns front to back, one sagittal slice per index
    turn = AxisReorientation.between(image.affine, array.shape, ("I", "P", "R"))
    volume, label_volume = turn.apply(array), turn.apply(np.asarray(labels))
    spacing = [image.spacing[axis] for axis in turn.permutation]
    labelled = np.flatnonzero(label_volume.reshape(-1, label_volume.shape[2]).any(axis=0))
    centre = int(round(labelled.mean())) if labelled.size else volume.shape[2] // 2
    chosen = sorted({min(max(centre + k, 0), volume.shape[2] - 1)
                     for k in range(-slices_each_side, slices_each_side + 1)})
    height = MR_PANEL_HEIGHT
    width = max(1, round(height * (volume.shape[1] * spacing[1]) / (volume.shape[0] * spacing[0])))
    pixels_per_mm = height / (volume.shape[0] * spacing[0])
    colours = label_colours(int(max(label_volume.max(), max(names, default=0))) + 1)
    font, title_font = _font(max(11, height // 40)), _font(max(13, height // 32))
    gap, title = 6, max(20, height // 22)
    present = [int(v) for v in np.unique(label_volume) if v != 0]
    step = max(14, height // 36)
    legend_width = 0
    if present:
        measure = ImageDraw.Draw(PillowImage.new("RGB", (1, 1)))
        legend_width = 30 + int(max(measure.textlength(names.get(v, f"label {v}"), font=font) for v in present))
    notice = title if phantom_only else 0
    panels_width = len(chosen) * width + (len(chosen) - 1) * gap
    sheet = PillowImage.new("RGB", (max(panels_width + legend_width + gap, 1), height + title + notice), (0, 0, 0))
    sheet_draw = ImageDraw.Draw(sheet)
    for panel, index in enumerate(chosen):
        picture = PillowImage.fromarray(_overlay(_grey_8bit(volume[:, :, index]), label_volume[:, :, index], colours))
        picture = picture.resize((width, height), PillowImage.NEAREST)
        draw = ImageDraw.Draw(picture)
        slice_labels = label_volume[:, :, index]
        for label in np.unique(slice_labels):
            if label == 0:
                continue
            row, col = _largest_part_centre(slice_labels == label)
            x = (col + 0.5) * width / volume.shape[1]
            y = (row + 0.5) * height / volume.shape[0]
            _text(draw, (x + 4, y - 6), names.get(int(label), f"label {int(label)}"), font)
        left = panel * (width + gap)
        sheet.paste(picture, (left, title))
        _orientation_letters(sheet_draw, left, title, width, height, font)
        _scale_bar(sheet_draw, left, title + height, width, pixels_per_mm, font)
        _text(sheet_draw, (left + 4, 2), f"sagittal slice {index + 1}/{volume.shape[2]}", title_font)
    legend_left = panels_width + gap
    for row, value in enumerate(present):
        y = title + 4 + row * step
        sheet_draw.rectangle([legend_left + 4, y + 2, legend_left + 18, y + step - 4],
                             fill=tuple(int(c) for c in colours[value]))
        _text(sheet_draw, (legend_left + 24, y), names.get(value, f"label {value}"), font)
    if phantom_only:
        sheet_draw.rectangle([0, height + title, sheet.width, sheet.height], fill=(150, 0, 0))
        _text(sheet_draw, (6, height + title + 3), PHANTOM_ONLY_NOTICE, title_font)
    return _save_png(sheet, path)


def xray_qc_picture(pixels: np.ndarray, labels: np.ndarray, measurement: LumbarMeasurement | None,
                    path: str | os.PathLike, names: Mapping[int, str] | None = None,
                    pixel_spacing_mm: tuple[float, float] | None = None, phantom_only: bool = False) -> Path:
    """An X-ray with its mask, fitted landmarks and key angles, as a PNG.

    Like the MR picture it carries orientation letters (S at the top of an
    upright lateral film; A/P from the facing the landmarks found, left out
    when no measurement says it), a scale bar where the pixel spacing is
    known (else a note that it is not), a legend of the structures found,
    and the phantom-only notice when the bundled demo model made the labels.

    Args:
        pixels: ``(H, W)`` grey picture (any dtype; shown from its 1st to 99th percentile).
        labels: ``(H, W)`` label map of the picture.
        measurement: the fitted landmarks and values (None: the mask only).
        path: the PNG to write (its folder must exist).
        names: ``{label: name}`` for the legend (None: no legend).
        pixel_spacing_mm: ``(row, column)`` spacing in mm (None: unknown, no scale bar).
        phantom_only: draw :data:`PHANTOM_ONLY_NOTICE`.

    Returns:
        the written path.

    Raises:
        InputError: labels of another shape, a bad destination.
    """
    from PIL import Image as PillowImage, ImageDraw

    grey = np.asarray(pixels)
    if labels.shape != grey.shape:
        raise InputError(f"labels of shape {labels.shape} do not match the picture's shape {grey.shape}")
    colours = label_colours(max(int(labels.max()), 4) + 1)
    shown = grey if grey.dtype == np.uint8 else _grey_8bit(grey.astype(np.float64))
    picture = PillowImage.fromarray(_overlay(shown, labels, colours))
    scale = min(1.0, XRAY_MAX_SIDE / max(grey.shape))
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    picture = picture.resize(size, PillowImage.BILINEAR)
    draw = ImageDraw.Draw(picture)
    line = max(2, round(max(size) / 400))
    font_size = max(12, max(size) // 45)
    font = _font(font_size)

    def at(point) -> tuple[float, float]:
        return ((point[0] + 0.5) * scale, (point[1] + 0.5) * scale)

    if measurement is not None:
        landmarks = measurement.landmarks
        for vertebra in landmarks.vertebrae:
            for plate in (vertebra.upper, vertebra.lower):
                draw.line([at(plate.anterior), at(plate.posterior)], fill=(255, 230, 0), width=line)
            x, y = at(vertebra.centroid)
            _text(draw, (x - 8, y - 8), vertebra.level, font)
        for head in landmarks.femoral_heads:
            (x, y), r = at(head.centre), head.radius * scale
            draw.ellipse([x - r, y - r, x + r, y + r], outline=(0, 230, 255), width=line)
        if landmarks.s1_endplate is not None:
            s1 = landmarks.s1_endplate
            draw.line([at(s1.anterior), at(s1.posterior)], fill=(255, 40, 40), width=line + 1)
            if landmarks.hip_axis is not None:
                draw.line([at(landmarks.hip_axis), at(s1.midpoint)], fill=(255, 0, 255), width=line)
        if landmarks.hip_axis is not None:
            x, y = at(landmarks.hip_axis)
            draw.ellipse([x - 2 * line, y - 2 * line, x + 2 * line, y + 2 * line], fill=(255, 0, 255))
        lines = [value_line(name, measurement.values.get(name)) for name in XRAY_KEY_VALUES]
        lines.append(f"facing {landmarks.facing} ({landmarks.facing_from})")
        step = font_size + 4
        widest = max(draw.textlength(text, font=font) for text in lines)
        draw.rectangle([0, 0, widest + 14, len(lines) * step + 8], fill=(0, 0, 0))
        for row, text in enumerate(lines):
            flagged = text.endswith("(low)") or text.endswith("(high)")
            _text(draw, (6, 4 + row * step), text, font, (255, 120, 120) if flagged else (255, 255, 255))
    width, height = size
    _text(draw, (width // 2 - 4, 2), "S", font, (255, 255, 0))
    _text(draw, (width // 2 - 4, height - font_size - 26), "I", font, (255, 255, 0))
    if measurement is not None:
        left, right = ("A", "P") if measurement.landmarks.facing == "left" else ("P", "A")
        _text(draw, (width - 16, height // 2 - 6), right, font, (255, 255, 0))
        _text(draw, (4, height // 2 - 6), left, font, (255, 255, 0))
    if pixel_spacing_mm is not None:
        _scale_bar(draw, 0, height, width, scale / float(pixel_spacing_mm[1]), font)
    else:
        _text(draw, (8, height - font_size - 6), "pixel spacing unknown: no scale", font, (200, 200, 200))
    return _save_png(_with_legend_and_notice(picture, labels, colours, names, phantom_only, font, font_size), path)


def _with_legend_and_notice(picture, labels: np.ndarray, colours: np.ndarray, names: Mapping[int, str] | None,
                            phantom_only: bool, font, font_size: int):
    """``picture`` with a legend of the labels present on its right and the phantom-only band below."""
    from PIL import Image as PillowImage, ImageDraw

    present = [int(v) for v in np.unique(labels) if v != 0] if names is not None else []
    measure = ImageDraw.Draw(picture)
    legend_width = 30 + int(max(measure.textlength(names.get(v, f"label {v}"), font=font) for v in present)) \
        if present else 0
    step = font_size + 6
    notice = step + 6 if phantom_only else 0
    sheet = PillowImage.new("RGB", (picture.width + legend_width, max(picture.height, len(present) * step) + notice),
                            (0, 0, 0))
    sheet.paste(picture, (0, 0))
    draw = ImageDraw.Draw(sheet)
    for row, value in enumerate(present):
        y = 4 + row * step
        colour = tuple(int(c) for c in colours[value % len(colours)])
        draw.rectangle([picture.width + 4, y + 2, picture.width + 18, y + step - 4], fill=colour)
        _text(draw, (picture.width + 24, y), names.get(value, f"label {value}"), font)
    if phantom_only:
        top = sheet.height - notice
        draw.rectangle([0, top, sheet.width, sheet.height], fill=(150, 0, 0))
        _text(draw, (6, top + 3), PHANTOM_ONLY_NOTICE, font)
    return sheet
