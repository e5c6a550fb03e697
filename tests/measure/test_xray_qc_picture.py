"""The X-ray QC picture: orientation letters, scale bar, legend, phantom-only notice (issue 15)."""

from __future__ import annotations

import numpy as np
from PIL import Image as PillowImage

from spine_rt.measure import measure_lumbar_parameters
from spine_rt.measure.qc_picture import xray_qc_picture
from spine_rt.phantoms import lumbar_xray

NAMES = {1: "vertebra", 2: "sacrum", 3: "femoral head L", 4: "femoral head R"}


def _picture(tmp_path, **options) -> np.ndarray:
    xray = lumbar_xray(3, size=(320, 240))
    spacing = (xray.pixel_spacing_mm, xray.pixel_spacing_mm)
    measurement = measure_lumbar_parameters(xray.mask, pixel_spacing_mm=spacing)
    path = xray_qc_picture(xray.image, xray.mask, measurement, tmp_path / "qc.png", **options)
    return np.asarray(PillowImage.open(path).convert("RGB"))


def test_legend_widens_and_phantom_notice_lengthens_the_picture(tmp_path):
    plain = _picture(tmp_path)
    full = _picture(tmp_path, names=NAMES, pixel_spacing_mm=(0.5, 0.5), phantom_only=True)
    assert plain.shape[:2] == (320, 240)
    assert full.shape[1] > plain.shape[1]  # the legend on the right
    assert full.shape[0] > plain.shape[0]  # the notice band below
    band = full[-3:, : full.shape[1] // 2]
    assert np.all(band[..., 0] > band[..., 1])  # the red phantom-only band


def test_scale_bar_only_with_a_known_spacing(tmp_path):
    unknown = _picture(tmp_path, names=NAMES)
    known = _picture(tmp_path, names=NAMES, pixel_spacing_mm=(0.5, 0.5))
    assert unknown.shape == known.shape
    assert not np.array_equal(unknown, known)  # the bar (and its label) replace the "unknown" note
