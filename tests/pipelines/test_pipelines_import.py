"""``import spine_rt`` and ``spine_rt.pipelines`` stay light: no torch, no onnxruntime."""

from __future__ import annotations

import subprocess
import sys


def test_importing_spine_rt_and_the_pipelines_imports_neither_torch_nor_onnxruntime():
    code = (
        "import sys, spine_rt, spine_rt.pipelines\n"
        "assert callable(spine_rt.load_pipeline)\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'monai') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
