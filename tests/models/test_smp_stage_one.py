"""Stage one against the real library: the SSHSNet authors' smp 0.1.3 DualNetwork, saved as their scripts
save it, exported by spine-rt; the package's FP32 graph gives what the authors' network gives.

smp imports torchvision, which does not load with the CPU torch here, so the reference is built in a
subprocess with ``../shared/tools/torchvision_shim`` on PYTHONPATH (``tests/conftest.py``); the test
process only reads what it wrote.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from authors_checkpoint_states import keys_json_entries, random_authors_state  # noqa: E402
from smp_subprocess import smp_environment  # noqa: E402

from spine_rt.export import export_package  # noqa: E402
from spine_rt.models import build, load_checkpoint  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.smp, pytest.mark.slow]

#: stage one's patch (X, Y) and a small stage-two patch: small inputs keep the full-width networks fast
STAGE_ONE_PATCH = (64, 32)
STAGE_TWO_PATCH = (32, 32, 4)
TOLERANCE = 1e-4


def _relative(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    difference = float(np.abs(got - expected).max())
    return difference, difference / float(np.abs(expected).max())


def test_authors_stage_one_from_smp_exports_to_an_equal_graph(tmp_path):
    script = Path(__file__).with_name("smp_dual_network.py")
    subprocess.run([sys.executable, str(script), str(tmp_path), "11", *map(str, STAGE_ONE_PATCH)],
                   env=smp_environment(), check=True, timeout=600)
    reference = np.load(tmp_path / "reference.npz")
    assert str(reference["smp_version"]) == "0.1.3"
    stage_two = tmp_path / "M0.8.pkl"
    torch.save(random_authors_state(keys_json_entries("stage2"), seed=12), stage_two)

    package = export_package("sshsnet", out=tmp_path / "pkg",
                             checkpoints={"stage1": tmp_path / "M0.9.pkl", "stage2": stage_two},
                             precisions="fp32", patch_sizes={"stage1": STAGE_ONE_PATCH, "stage2": STAGE_TWO_PATCH})
    manifest = package.manifest
    assert manifest.provenance["source_formats"] == {"stage1": "sshsnet-authors-stage1",
                                                     "stage2": "sshsnet-authors-stage2"}
    assert manifest.stages["stage1"].config["stem_pool"] == "ceil"
    assert manifest.preprocessing["stage_one_upsampling"] == "authors"

    graph = next(g for g in manifest.stages["stage1"].graphs if g.precision == "fp32")
    session = ort.InferenceSession(str(package.path(graph.path)), providers=["CPUExecutionProvider"])
    probabilities, features = session.run(["probabilities", "features"], {"slices": reference["slices"]})
    errors = {"probabilities": _relative(probabilities, reference["probabilities"]),
              "features": _relative(features, reference["features"])}
    print("stage one (onnxruntime FP32 vs smp 0.1.3): "
          + ", ".join(f"{name} max abs {a:.3e} relative {r:.3e}" for name, (a, r) in errors.items()))
    assert features.shape == reference["features"].shape == (2, 512, STAGE_ONE_PATCH[0] // 4, STAGE_ONE_PATCH[1] // 4)
    assert all(relative < TOLERANCE for _, relative in errors.values())
    assert reference["probabilities"].max() > 0.2  # not a flat softmax

    # the test can fail: spine-rt's default stem pool ("same") on the same weights differs from the authors'
    same = build("stage1_pair", "full", stem_pool="ceil")
    load_checkpoint(same, tmp_path / "M0.9.pkl")
    same.branch1.encoder.stem[3].padding, same.branch1.encoder.stem[3].ceil_mode = 1, False
    with torch.no_grad():
        _, shifted = same.eval()(torch.from_numpy(reference["slices"]))
    assert _relative(shifted.numpy(), reference["features"])[1] > 10 * TOLERANCE
