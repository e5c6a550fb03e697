"""Running segmentation_models_pytorch in a subprocess (tests only): the torchvision shim on PYTHONPATH.

smp 0.1.3 and timm import torchvision, whose compiled operators do not load
with the CPU torch of these machines; ``../shared/tools/torchvision_shim``
(its README) makes that import inert. It is put on the PYTHONPATH of
subprocesses only, never into the test process (MONAI probes torchvision).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: makes ``import torchvision`` inert so smp/timm import with the CPU torch (see its README); subprocesses only
TORCHVISION_SHIM = Path(os.environ.get("SPINE_RT_TORCHVISION_SHIM",
                                       REPO.parent / "shared" / "tools" / "torchvision_shim"))


def smp_environment() -> dict[str, str]:
    """Environment for a subprocess that imports segmentation_models_pytorch: the shim first on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(TORCHVISION_SHIM)] if TORCHVISION_SHIM.is_dir() else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def smp_import_problem() -> str | None:
    """``None`` when smp imports in a subprocess (with the shim), else why not."""
    probe = subprocess.run([sys.executable, "-c", "import segmentation_models_pytorch"], env=smp_environment(),
                           capture_output=True, text=True, timeout=300)
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"segmentation-models-pytorch does not import (torchvision shim at {TORCHVISION_SHIM}): {last}"
    return None
