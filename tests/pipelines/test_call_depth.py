"""``spine-rt infer`` reaches a runner's ``_infer_impl`` in at most 7 Python frames (issue 14; nnU-Net: 5).

Counted on the CPU path (onnxruntime, the fast schedule on numpy arrays)
with the tiny SSHSNet package: from ``spine_rt.cli.main.main`` to
``_infer_impl`` inclusive, for every runner call of the scan (stage one and
stage two). Before the one fast schedule the first call was 11 frames deep
(``main, run, _run_single, __call__, segment, predict, run_stage_one,
run_sliding_window, predict, infer, _infer_impl``).
"""

from __future__ import annotations

import sys

import nibabel as nib
import pytest

from spine_rt.cli import main
from spine_rt.phantoms import spine_mr

pytestmark = pytest.mark.torch  # the tiny package is exported from torch

#: the most frames from ``cli.main.main`` to ``_infer_impl`` (both counted)
MAX_FRAMES = 7


def test_infer_reaches_the_runner_in_at_most_seven_frames(tiny_package, tmp_path, monkeypatch):
    from spine_rt.runtime.onnxruntime_runner import OnnxRuntimeRunner

    phantom = spine_mr(0, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= 0.3448 / 2.0  # the model's in-plane spacing: a small network grid
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, affine), scan)

    chains: list[list[str]] = []
    run = OnnxRuntimeRunner._infer_impl

    def counted(self, feed, stream=None):
        frame, chain = sys._getframe(0), []
        while frame is not None:
            chain.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
            if frame.f_code is main.main.__code__:
                break
            frame = frame.f_back
        chains.append(chain)
        return run(self, feed, stream)

    monkeypatch.setattr(OnnxRuntimeRunner, "_infer_impl", counted)
    code = main.main(["infer", str(scan), "--model", str(tiny_package.root), "--backend", "onnxruntime",
                      "--device", "cpu", "-o", str(tmp_path / "seg.nii.gz")])
    assert code == 0
    assert len(chains) >= 2  # stage one and stage two ran
    assert all(chain[-1].endswith(":main") for chain in chains)  # every call came from the CLI entry
    deepest = max(chains, key=len)
    assert len(deepest) <= MAX_FRAMES, "\n".join(reversed(deepest))
