"""The model package a benchmark runs when none is given.

* :func:`demo_package` - the trained demo package shipped at
  ``spine_rt/demo_model/`` when it is there (label agreement is meaningful
  with trained weights only).
* :func:`export_bench_package` - a seeded random-init SSHSNet package
  (``spine-rt export sshsnet --random-init``), the paper's patch sizes,
  exported into a folder the caller owns (a temporary one for ``spine-rt
  bench``). Needs torch and onnx (the ``[export]`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path

#: the trained demo package, when the distribution ships one
DEMO_PACKAGE = Path(__file__).resolve().parents[1] / "demo_model"
#: preset and seed of the package exported when none is given
BENCH_PRESET = "tiny"
BENCH_SEED = 0
#: spatial patch sizes of the exported package; ``None``: the paper's (stage one 512 x 256 (S->I x A->P), stage two 192 x 192 x 12)
BENCH_PATCH_SIZES: dict[str, tuple[int, ...]] | None = None


def demo_package() -> Path | None:
    """The shipped demo package folder, or ``None`` when this installation has none."""
    return DEMO_PACKAGE if (DEMO_PACKAGE / "manifest.json").is_file() else None


def export_bench_package(folder: str | os.PathLike[str], preset: str = BENCH_PRESET, seed: int = BENCH_SEED,
                         fp16: bool = False) -> Path:
    """Export a random-init SSHSNet package of ``preset`` into ``folder`/sshsnet_<preset>``.

    Args:
        folder: an existing folder the caller owns (and removes).
        preset: ``"tiny"`` (default) or ``"full"``.
        seed: seed of the weights.
        fp16: also write the FP16 graphs (GPU backends).

    Returns:
        The package folder.

    Raises:
        EnvironmentProblem: torch or onnx is not installed.
    """
    from spine_rt.dependencies import require

    for module in ("torch", "onnx", "onnxscript"):
        require(module, "exporting the benchmark's random-init package")
    from spine_rt.export import export_package

    out = Path(folder) / f"sshsnet_{preset}"
    package = export_package("sshsnet", out=out, preset=preset, random_init=True, seed=seed,
                             precisions=["fp32", "fp16"] if fp16 else ["fp32"], patch_sizes=BENCH_PATCH_SIZES)
    return Path(package.root)
