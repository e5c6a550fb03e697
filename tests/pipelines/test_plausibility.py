"""Implausible scans are refused with their numbers, unusual ones warned; batches fit the work and the memory."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.io import read_image
from spine_rt.pipelines.schedules import batch_memory
from spine_rt.pipelines.schedules.batch_memory import fit_batch
from spine_rt.pipelines.plausibility import check_mr_geometry, check_xray_geometry

MODEL = (1.2, 1.2, 4.4)


def test_a_phantom_like_scan_passes_without_warnings():
    assert check_mr_geometry((12, 311, 173), (4.4, 1.2, 1.2), MODEL) == []


@pytest.mark.parametrize("shape, spacing, message", [
    ((3, 3, 3), (1.0, 1.0, 1.0), r"field of view 3 x 3 x 3 mm.*under 20 mm"),
    ((2, 3000, 3000), (4.4, 1.0, 1.0), r"field of view 8.8 x 3000 x 3000 mm.*over 2500 mm"),
    ((12, 300, 300), (0.0, 1.0, 1.0), r"voxel size 0 x 1 x 1 mm"),
    ((12, 300, 300), (float("nan"), 1.0, 1.0), r"voxel size nan"),
    ((12, 30, 30), (4.4, 60.0, 60.0), r"voxels of 60 mm are far coarser than the model's 1.2 x 1.2 x 4.4 mm"),
    ((12, 3000, 3000), (4.4, 0.01, 0.01), r"voxels of 0.01 mm are far finer"),
])
def test_implausible_geometry_is_refused_with_the_numbers(shape, spacing, message):
    with pytest.raises(InputError, match=message):
        check_mr_geometry(shape, spacing, MODEL)


def test_unusual_geometry_is_warned():
    warnings = check_mr_geometry((2, 40, 40), (4.4, 1.2, 1.2), MODEL)
    assert any("shorter than a lumbar spine" in w for w in warnings)
    assert any("fewer than 5 voxels along axis 0" in w for w in warnings)
    assert any("far from the model's" in w for w in check_mr_geometry((12, 60, 60), (4.4, 8.0, 8.0), MODEL))


def test_xray_pictures_too_small_or_of_no_body_size_are_refused():
    with pytest.raises(InputError, match="an X-ray of 1 x 1 pixels"):
        check_xray_geometry((1, 1), None)
    with pytest.raises(InputError, match="covers 5000 x 4000 mm"):
        check_xray_geometry((500, 400), (10.0, 10.0))
    assert check_xray_geometry((1000, 800), (0.2, 0.2)) == []
    assert "under 128 pixels" in check_xray_geometry((64, 64), None)[0]


def test_zero_voxel_size_without_sform_is_refused(tmp_path):
    image = nib.Nifti1Image(np.ones((40, 40, 12), np.float32), None, nib.Nifti1Header())
    image.header["pixdim"][1:4] = 0
    nib.save(image, tmp_path / "zero.nii.gz")
    with pytest.raises(InputError, match=r"voxel size 0 x 0 x 0 mm in the header and no sform"):
        read_image(tmp_path / "zero.nii.gz")


def test_batch_is_clamped_to_the_work_and_refused_beyond_memory(monkeypatch):
    monkeypatch.setattr(batch_memory, "available_memory_bytes", lambda: 8 << 30)
    assert fit_batch(10000, 18, 4 << 20) == 18
    assert fit_batch(4, 18, 4 << 20) == 4
    monkeypatch.setattr(batch_memory, "available_memory_bytes", lambda: 100 << 20)
    with pytest.raises(InputError, match=r"--batch 64: 64 windows at once need about 0.8 GiB, 0.1 GiB is available; "
                                         r"use --batch 8 or less"):
        fit_batch(64, 1000, 4 << 20, "--batch")
