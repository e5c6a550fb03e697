"""Fixtures of the reliability tests: hostile inputs, small file systems, and what a clean failure looks like.

* ``hostile`` - a folder of broken inputs written once per session (empty,
  truncated, wrong type, wrong rank, NaN, huge, zero voxel size, ...);
* ``mounted_tmpfs(size, read_only)`` - a small tmpfs mounted for one test
  (read-only, or full), unmounted afterwards; the test is *skipped* with the
  reason where mounting is not allowed (not root, no CAP_SYS_ADMIN);
* the checks themselves are in ``reliability_helpers.py`` (importable by
  the test modules under that unique name).
"""

from __future__ import annotations

import gc
import gzip
import importlib.util
import os
import subprocess
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PillowImage

from spine_rt.phantoms import lumbar_xray, spine_mr

MODEL_IN_PLANE_MM = 0.3448


def write_mr_scan(path: Path, seed: int = 0) -> Path:
    """A phantom spine MR whose affine declares the tiny package's in-plane spacing (small grid, fast)."""
    phantom = spine_mr(seed, spacing=(4.4, 2.0, 2.0))
    affine = phantom.affine.copy()
    affine[:3, 1:3] *= MODEL_IN_PLANE_MM / 2.0
    nib.save(nib.Nifti1Image(phantom.image, affine), path)
    return path


def _zero_voxel_nifti(path: Path) -> None:
    header = nib.Nifti1Header()
    image = nib.Nifti1Image(np.ones((40, 40, 12), np.float32), None, header)
    image.header["pixdim"][1:4] = 0
    nib.save(image, path)


def _write_hostile_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def add(name: str, file: str) -> Path:
        paths[name] = folder / file
        return paths[name]

    good = write_mr_scan(add("mr", "scan.nii.gz"))
    add("empty", "empty.nii.gz").write_bytes(b"")
    add("truncated", "truncated.nii.gz").write_bytes(gzip.decompress(good.read_bytes())[:2000])
    add("text", "text.nii.gz").write_text("this is not a scan\n")
    nib.save(nib.Nifti1Image(np.ones((64, 64), np.float32), np.eye(4)), add("rank2", "rank2.nii.gz"))
    nib.save(nib.Nifti1Image(np.ones((32, 32, 12, 3), np.float32), np.eye(4)), add("rank4", "rank4.nii.gz"))
    nan = spine_mr(0, spacing=(4.4, 2.0, 2.0)).image.copy()
    nan[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(nan, np.diag([4.4, 2.0, 2.0, 1.0])), add("nan", "nan.nii.gz"))
    nib.save(nib.Nifti1Image(np.ones((12, 300, 300), np.float32), np.diag([4.4, 10.0, 10.0, 1.0])),
             add("huge_fov", "huge_fov.nii.gz"))
    nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.float32), np.eye(4)), add("tiny", "tiny.nii.gz"))
    _zero_voxel_nifti(add("zero_voxel", "zero_voxel.nii.gz"))
    PillowImage.fromarray(lumbar_xray(0, size=(200, 160)).image).save(add("xray", "xray.png"))
    PillowImage.fromarray(np.zeros((1, 1), np.uint8)).save(add("xray_1px", "one_pixel.png"))
    add("xray_truncated", "truncated.png").write_bytes(paths["xray"].read_bytes()[:300])
    add("dicom_garbage", "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(64))
    add("empty_folder", "empty_folder").mkdir()
    bad_package = add("bad_package", "bad_package")
    bad_package.mkdir()
    (bad_package / "manifest.json").write_text('{"task": "spine_mr", "model": ')
    add("empty_package", "empty_package").mkdir()
    add("checkpoint_text", "checkpoint.pt").write_text("not a checkpoint\n")
    add("checkpoint_empty", "empty.pt").write_bytes(b"")
    cohort = add("cohort", "cohort")
    cohort.mkdir()
    write_mr_scan(cohort / "a.nii.gz", 1)
    write_mr_scan(cohort / "b.nii.gz", 2)
    write_mr_scan(cohort / "c.nii.gz", 3)
    return paths


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict[str, Path]:
    """Broken and good inputs by name (see :func:`_write_hostile_inputs`); tests must not change them."""
    return _write_hostile_inputs(tmp_path_factory.mktemp("hostile_inputs"))


def _load_xray_package_writer():
    path = Path(__file__).resolve().parents[1] / "cli" / "test_infer_cli.py"
    spec = importlib.util.spec_from_file_location("_infer_cli_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_pixelwise_xray_package


@pytest.fixture(scope="session")
def xray_package(tmp_path_factory) -> Path:
    """A pixel-wise X-ray package (onnx only), the one the infer CLI tests use."""
    return _load_xray_package_writer()(tmp_path_factory.mktemp("reliability_xray") / "xray")


@pytest.fixture
def mounted_tmpfs(tmp_path):
    """``mount(size_bytes, read_only=False) -> Path``: a small tmpfs for this test; skipped where mounting fails."""
    mounts: list[Path] = []

    def mount(size_bytes: int, read_only: bool = False) -> Path:
        point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
        point.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (the tests run as root in CI)")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(point)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        return point

    yield mount
    for point in reversed(mounts):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            gc.collect()  # a writer that failed with ENOSPC may still hold its file open until collected
            if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True)
