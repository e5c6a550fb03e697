"""Cohorts: many scans in order, read ahead, bad scans reported and skipped (fake runners)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from pipeline_fakes import fake_pipeline, ipr_affine, model_grid_volume

from spine_rt.errors import InputError
from spine_rt.io import Image, read_image
from spine_rt.pipelines import scans_in_folder, segment_cohort


@pytest.fixture
def folder(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for seed in (1, 2, 3):
        nib.save(nib.Nifti1Image(model_grid_volume((64, 128, 12), seed=seed), ipr_affine()), scans / f"s{seed}.nii.gz")
    (scans / "notes.txt").write_text("not a scan")
    return scans


def test_cohort_segments_every_scan_in_order_and_writes_the_labels(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pipe = fake_pipeline()
    items = list(segment_cohort(pipe, scans_in_folder(folder), out_dir=out, prefetch=2))
    assert [item.name for item in items] == ["s1", "s2", "s3"] and all(item.ok for item in items)
    for item in items:
        written = read_image(item.output)
        assert item.output == out / f"{item.name}_seg.nii.gz"
        np.testing.assert_array_equal(written.array, item.result.labels)
        np.testing.assert_array_equal(item.result.labels, pipe(folder / f"{item.name}.nii.gz").labels)


def test_a_bad_scan_is_reported_and_the_cohort_goes_on(folder):
    scans = [folder / "s1.nii.gz", folder / "missing.nii.gz", Image(np.zeros((40, 40, 12)), np.eye(4)),
             folder / "s2.nii.gz"]
    items = list(segment_cohort(fake_pipeline(), scans, prefetch=1))
    assert [item.ok for item in items] == [True, False, False, True]
    assert "no such file" in str(items[1].error) and "no non-zero voxel" in str(items[2].error)
    assert items[2].name == "scan_0002"


def test_cohort_options_are_checked(folder, tmp_path):
    with pytest.raises(InputError, match="prefetch"):
        list(segment_cohort(fake_pipeline(), [], prefetch=0))
    with pytest.raises(InputError, match="output folder"):
        list(segment_cohort(fake_pipeline(), [], out_dir=tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no NIfTI"):
        scans_in_folder(empty)
