"""Labels with stage one's maps in float16 against float32, and OpenVINO FP32 against onnxruntime FP32 for scale.

The bundled demo package segments the unseen phantoms 2000-2009 (on the
package's own grid) and, when ``../shared/data`` is beside the checkout, the
real scans there (``mr3d/*_image.nii.gz``, ``nifti/sct_t2_lumbar.nii.gz``).
For every input it counts the voxels whose label changes when only
``maps_dtype`` changes (onnxruntime FP32), and with ``--engines`` when only
the backend changes (OpenVINO FP32 vs onnxruntime FP32, both with float32
maps). One JSON line per input and a summary; ``benchmarks/RESULTS.md``,
"float16 stage-one maps", has the figures::

    python benchmarks/maps_dtype_agreement.py [--engines] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHANTOM_SEEDS = range(2000, 2010)


def inputs():
    """``(name, loader)`` of every input: the phantoms, then the real scans found."""
    from spine_rt.demo import phantom_spacing_of_package
    from spine_rt.io import Image, read_image
    from spine_rt.model_package import ModelPackage
    from spine_rt.phantoms import spine_mr
    from spine_rt.pipelines.default_model import default_package_path

    spacing = phantom_spacing_of_package(ModelPackage.open(default_package_path()).manifest.preprocessing)

    def phantom(seed: int):
        drawn = spine_mr(seed, spacing=spacing)
        return Image(drawn.image, drawn.affine)

    found = [(f"phantom {seed}", lambda seed=seed: phantom(seed)) for seed in PHANTOM_SEEDS]
    scans = sorted((SHARED_DATA / "mr3d").glob("*_image.nii.gz")) + sorted(
        (SHARED_DATA / "nifti").glob("sct_t2_lumbar.nii.gz"))
    return found + [(path.name, lambda path=path: read_image(path)) for path in scans]


def labels_of(cases, **options) -> dict[str, np.ndarray]:
    from spine_rt.pipelines.load import load_pipeline

    with load_pipeline(None, device="cpu", **options) as pipeline:
        return {name: pipeline(load()).labels for name, load in cases}


def compare(first: dict[str, np.ndarray], second: dict[str, np.ndarray], what: str) -> list[dict]:
    rows = []
    for name, labels in first.items():
        differing = int((labels != second[name]).sum())
        rows.append({"comparison": what, "input": name, "voxels": int(labels.size),
                     "foreground_voxels": int((labels > 0).sum()), "differing_voxels": differing})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", action="store_true", help="also OpenVINO FP32 vs onnxruntime FP32")
    parser.add_argument("--json", default=None, metavar="FILE", help="write every row as JSON")
    args = parser.parse_args()
    cases = inputs()
    exact = labels_of(cases, backend="onnxruntime", maps_dtype="float32")
    rows = compare(exact, labels_of(cases, backend="onnxruntime", maps_dtype="float16"), "float16 vs float32 maps")
    if args.engines:
        rows += compare(exact, labels_of(cases, backend="openvino", precision="fp32", maps_dtype="float32"),
                        "openvino vs onnxruntime fp32")
    for what in dict.fromkeys(row["comparison"] for row in rows):
        part = [row for row in rows if row["comparison"] == what]
        differing = sum(row["differing_voxels"] for row in part)
        voxels = sum(row["voxels"] for row in part)
        print(f"{what}: {differing} of {voxels} voxels differ ({differing / voxels:.1e}); "
              f"{sum(row['differing_voxels'] == 0 for row in part)} of {len(part)} inputs identical",
              file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
