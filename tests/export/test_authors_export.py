"""``spine-rt export sshsnet`` with checkpoints in the SSHSNet authors' layout (tiny networks renamed to their
keys, so it runs in seconds): folds, the manifest's source format and upsampling choice, the torch rebuild,
``spine-rt infer`` through the package, and one-line errors for misplaced or mixed checkpoints."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from authors_checkpoint_states import as_authors_checkpoint  # noqa: E402

from spine_rt.cli import main  # noqa: E402
from spine_rt.pipelines.runner_factory import build_stage_module  # noqa: E402
from spine_rt.model_package import ModelPackage  # noqa: E402
from spine_rt.models import build  # noqa: E402
from spine_rt.models.authors_checkpoints import SSHSNET_AUTHORS_STAGE_ONE, SSHSNET_AUTHORS_STAGE_TWO  # noqa: E402
from spine_rt.phantoms import spine_mr  # noqa: E402

pytestmark = pytest.mark.torch

PATCHES = ["--patch-size", "stage1=64,128", "--patch-size", "stage2=64,64,12"]
MODEL_IN_PLANE_MM = 0.3448


@pytest.fixture(scope="module")
def authors_files(tmp_path_factory):
    """``{"stage1": [M.pkl], "stage2": [fold0, fold1]}`` in the authors' layout, and the source networks."""
    folder = tmp_path_factory.mktemp("authors")
    torch.manual_seed(4)
    networks = {"stage1": [build("stage1_pair", "tiny", stem_pool="ceil")],
                "stage2": [build("stage2", "tiny", patch_size=(64, 64, 12)) for _ in range(2)]}
    files = {}
    for stage, layout in (("stage1", SSHSNET_AUTHORS_STAGE_ONE), ("stage2", SSHSNET_AUTHORS_STAGE_TWO)):
        files[stage] = []
        for fold, network in enumerate(networks[stage]):
            with torch.no_grad():
                for name, tensor in network.named_parameters():
                    if name.endswith("gamma"):
                        tensor.fill_(0.25)
            file = folder / f"{stage}_sub{fold}" / f"M0.{90 + fold}.pkl"
            file.parent.mkdir()
            torch.save(as_authors_checkpoint(network, layout), file)
            files[stage].append(file)
    return files, networks


def _checkpoint_args(files):
    return [arg for stage, paths in files.items() for path in paths for arg in ("--checkpoint", f"{stage}={path}")]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_authors_checkpoints_export_with_folds_and_run_through_infer(tmp_path, capsys, authors_files):
    files, networks = authors_files
    out = tmp_path / "pkg"
    code = main.main(["export", "sshsnet", "--preset", "tiny", "--precision", "fp32", "--out", str(out),
                      *_checkpoint_args(files), *PATCHES])
    assert code == 0
    printed = capsys.readouterr().out
    assert "stage1: checkpoints in sshsnet-authors-stage1 layout" in printed
    assert "stage2: checkpoints in sshsnet-authors-stage2 layout" in printed

    package = ModelPackage.open(out)
    manifest = package.manifest
    assert manifest.provenance["source_formats"] == {"stage1": "sshsnet-authors-stage1",
                                                     "stage2": "sshsnet-authors-stage2"}
    assert [record["format"] for record in manifest.provenance["checkpoints"]["stage2"]] == \
        ["sshsnet-authors-stage2"] * 2
    assert [graph.fold for graph in manifest.stages["stage2"].graphs] == [0, 1]
    assert manifest.stages["stage1"].config["stem_pool"] == "ceil"
    assert manifest.preprocessing["stage_one_upsampling"] == "authors"
    # the torch backend rebuilds exactly the authors' networks from the recorded configuration
    for stage, fold in (("stage1", 0), ("stage2", 1)):
        rebuilt = build_stage_module(package, stage, fold)
        for name, tensor in networks[stage][fold].state_dict().items():
            torch.testing.assert_close(rebuilt.state_dict()[name], tensor, rtol=0, atol=0)

    phantom = spine_mr(5, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= MODEL_IN_PLANE_MM / 2.0
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, affine), scan)
    for schedule, upsampling in (("reference", "authors"), ("fast", "linear")):
        labels, report = tmp_path / f"{schedule}.nii.gz", tmp_path / f"{schedule}.json"
        code = main.main(["infer", str(scan), "--model", str(out), "--schedule", schedule, "-o", str(labels),
                          "--report", str(report), "--backend", "onnxruntime"])
        assert code == 0
        written = json.loads(report.read_text())
        assert written["schedule"] == schedule and written["stage_one_upsampling"] == upsampling
        assert np.asarray(nib.load(labels).dataobj).shape == phantom.image.shape


def test_misplaced_or_mixed_authors_checkpoints_are_one_line_exit_2(tmp_path, capsys, authors_files):
    files, networks = authors_files
    out = tmp_path / "pkg"
    swapped = {"stage1": files["stage2"][:1], "stage2": files["stage1"]}
    assert main.main(["export", "sshsnet", "--preset", "tiny", "--precision", "fp32", "--out", str(out),
                      *_checkpoint_args(swapped), *PATCHES]) == 2
    line = _error_line(capsys)
    assert "authors' stage two" in line and "not a stage1 checkpoint" in line
    ours = tmp_path / "ours.pt"
    torch.save(networks["stage2"][0].state_dict(), ours)
    mixed = {"stage1": files["stage1"], "stage2": [files["stage2"][0], ours]}
    assert main.main(["export", "sshsnet", "--preset", "tiny", "--precision", "fp32", "--out", str(out),
                      *_checkpoint_args(mixed), *PATCHES]) == 2
    assert "come in different layouts (spine-rt, sshsnet-authors-stage2)" in _error_line(capsys)
    assert not out.exists()
