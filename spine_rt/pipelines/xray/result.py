"""``XrayResult``: the segmentation and measurements of one lateral X-ray."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spine_rt.atomic_write import write_file_atomic
from spine_rt.errors import InputError
from spine_rt.measure import LumbarMeasurement

LABEL_SUFFIX = ".png"


@dataclass(frozen=True, eq=False)
class XrayResult:
    """What :class:`~spine_rt.pipelines.xray.pipeline.XrayPipeline` returns.

    Attributes:
        labels: ``(H, W)`` uint8 label map with exactly the input's size
            (0 background, 1 vertebra, 2 sacrum, 3/4 femoral heads).
        report: plain JSON facts: backend, device, timings (s), structures
            (pixels, mm2), measured values (degrees, LDI %) flagged against
            the normal ranges, MBNet's regressed values when present.
        measurement: the fitted landmarks (pixels) and values, for drawing.
        pixel_spacing_mm: ``(row, column)`` mm of the input, or None.
        probabilities: ``(C, h, w)`` float32 at the network's resolution when
            asked for, else None.
        source: the input file, or None (what :meth:`save` refuses to overwrite).
    """

    labels: np.ndarray
    report: dict[str, Any]
    measurement: LumbarMeasurement | None = field(default=None, repr=False)
    pixel_spacing_mm: tuple[float, float] | None = None
    probabilities: np.ndarray | None = field(default=None, repr=False)
    source: Path | None = None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the labels as an 8-bit PNG label map (pixel value = class), atomically.

        Returns:
            the written path.

        Raises:
            InputError: a name not ending in ``.png``, a missing folder, a
                folder, or the input file itself.
        """
        from PIL import Image as PillowImage

        target = Path(path)
        if target.suffix.lower() != LABEL_SUFFIX:
            raise InputError(f"{target}: an X-ray label map is written as PNG; the name must end in .png")
        if target.is_dir():
            raise InputError(f"{target}: is a folder")
        if not target.parent.is_dir():
            raise InputError(f"{target.parent}: the output folder does not exist")
        if self.source is not None and target.resolve() == Path(self.source).resolve():
            raise InputError(f"{target}: refusing to overwrite the input image; choose another output path")
        picture = PillowImage.fromarray(np.ascontiguousarray(self.labels, dtype=np.uint8), mode="L")
        return write_file_atomic(target, lambda temporary: picture.save(temporary, format="PNG"), suffix=".png")

    def __repr__(self) -> str:
        found = ", ".join(s["name"] for s in self.report.get("structures", [])) or "none"
        return f"XrayResult(labels={self.labels.shape}, structures: {found})"
