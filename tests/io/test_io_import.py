"""Importing spine_rt.io stays light: no torch, monai, tensorrt or cuda."""

from __future__ import annotations

import subprocess
import sys

import spine_rt.io


def test_import_needs_no_heavy_backend():
    code = (
        "import sys, spine_rt.io; "
        "heavy = sorted(m for m in ('torch', 'monai', 'tensorrt', 'cuda', 'onnx') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_names():
    for name in ("Image", "read_image", "save_labels", "save_image", "GridTransform", "MR_MODEL_AXES"):
        assert name in spine_rt.io.__all__ and hasattr(spine_rt.io, name)
