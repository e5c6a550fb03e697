"""X-ray in and out of the network's grid: grey picture -> RGB ``(1, 3, h, w)`` in [0, 1]; labels back.

The manifest's preprocessing entry of an X-ray package says how the network
was trained (``spine_rt.export``): ``image_size`` ``(h, w)`` (512 x 512),
``resize`` (bilinear), ``scale`` (1/255) and ``offset`` (0). A picture is
first brought to 8-bit grey (8-bit pictures as stored; deeper PNGs and
DICOM modality values stretched linearly from their minimum to their
maximum), resized with pillow's bilinear filter (as the training data
were), repeated into three equal channels and scaled. Labels come back to
the input's size with nearest-neighbour sampling (no new label values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spine_rt.errors import InputError

DEFAULT_IMAGE_SIZE = (512, 512)
DEFAULT_SCALE = 1.0 / 255.0


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """``(H, W)`` grey levels as uint8: uint8 unchanged, anything else stretched from min..max to 0..255."""
    if pixels.dtype == np.uint8:
        return pixels
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def nearest_resize(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of ``(h, w)`` ``labels`` to ``shape`` ``(H, W)``: output pixel
    centre ``i + 0.5`` samples the source pixel containing ``(i + 0.5) * h / H``."""
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * labels.shape[0] / shape[0]).astype(np.int64), labels.shape[0] - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * labels.shape[1] / shape[1]).astype(np.int64), labels.shape[1] - 1)
    return labels[rows[:, None], cols[None, :]]


@dataclass(frozen=True)
class XrayPreprocessing:
    """``image_size`` ``(h, w)`` of the network, ``scale`` and ``offset`` (value = pixel * scale + offset)."""

    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    scale: float = DEFAULT_SCALE
    offset: float = 0.0

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any]) -> XrayPreprocessing:
        """Read the manifest's preprocessing entry.

        Raises:
            InputError: a malformed size or number, or a colour/resize this pipeline does not do.
        """
        try:
            size = tuple(int(s) for s in entry.get("image_size", DEFAULT_IMAGE_SIZE))
            scale = float(entry.get("scale", DEFAULT_SCALE))
            offset = float(entry.get("offset", 0.0))
        except (TypeError, ValueError):
            raise InputError(f"malformed X-ray preprocessing in the manifest: {dict(entry)!r}") from None
        if len(size) != 2 or min(size) < 1:
            raise InputError(f"the manifest's X-ray image_size must be (h, w), got {size}")
        if str(entry.get("color", "RGB")).upper() != "RGB" or str(entry.get("resize", "bilinear")) != "bilinear":
            raise InputError(f"this X-ray pipeline feeds RGB resized bilinearly; the manifest asks for "
                             f"color={entry.get('color')!r}, resize={entry.get('resize')!r}")
        return cls((size[0], size[1]), scale, offset)

    def network_input(self, pixels: np.ndarray) -> np.ndarray:
        """``(H, W)`` grey picture -> ``(1, 3, h, w)`` float32 network input."""
        from PIL import Image as PillowImage

        grey = PillowImage.fromarray(to_8bit(np.asarray(pixels)), mode="L")
        height, width = self.image_size
        resized = np.asarray(grey.resize((width, height), PillowImage.BILINEAR), dtype=np.float32)
        values = resized * np.float32(self.scale) + np.float32(self.offset)
        return np.ascontiguousarray(np.broadcast_to(values, (1, 3, height, width)), dtype=np.float32)

    def describe(self, pixels: np.ndarray) -> dict[str, Any]:
        """Plain facts for the report."""
        return {
            "image_size": list(self.image_size),
            "color": "RGB (three equal grey channels)",
            "resize": "bilinear (pillow)",
            "scale": self.scale,
            "offset": self.offset,
            "to_8bit": "as stored" if pixels.dtype == np.uint8 else "min..max stretched to 0..255",
            "labels_back": "nearest neighbour to the input size",
        }
