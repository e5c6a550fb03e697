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


def _plan(folder, out):
    from spine_rt.pipelines.cohort_outputs import cohort_cases

    return cohort_cases(folder, "spine_mr", str(out), None, None)


MODEL = {"name": "fake", "bundled_demo": False}


def test_run_cohort_publishes_each_case_records_a_bad_one_and_writes_the_summary(folder, tmp_path):
    import csv
    import json

    from spine_rt.pipelines import run_cohort

    (folder / "bad.nii.gz").write_bytes(b"not a gzip file")
    out_dir, cases = _plan(folder, tmp_path / "out")
    loads, said = [], []

    def load():
        loads.append(1)
        return fake_pipeline()

    run = run_cohort(load, out_dir, cases, "spine_mr", labels={}, model=MODEL, say=said.append)
    assert (run.ran, run.skipped, run.failed, len(loads)) == (4, 0, ("bad",), 1)
    rows = list(csv.DictReader(run.summary.open()))
    assert [(row["case"], row["status"]) for row in rows] == [("bad", "failed"), ("s1", "done"), ("s2", "done"),
                                                             ("s3", "done")]
    assert rows[0]["output"] == "" and "not a readable NIfTI" in rows[0]["error"]
    assert said[0] == f"bad: {rows[0]['error']}" and all(line.startswith(("s1: warning", "s2: warning", "s3: warning"))
                                                         for line in said[1:])
    report = json.loads((out_dir / "s2_report.json").read_text())
    assert report["case"] == "s2" and report["model"] == MODEL
    assert read_image(out_dir / "s2_seg.nii.gz").array.shape == read_image(folder / "s2.nii.gz").array.shape

    (folder / "bad.nii.gz").unlink()  # the rest is done: nothing to run, the pipeline is not even loaded
    again = run_cohort(load, *_plan(folder, tmp_path / "out"), "spine_mr", labels={}, model=MODEL)
    assert (again.ran, again.skipped, again.failed, len(loads)) == (0, 3, (), 1)
    assert {row["status"] for row in csv.DictReader(again.summary.open())} == {"skipped (already done)"}


def test_run_cohort_writes_the_summary_when_loading_fails(folder, tmp_path):
    import csv

    from spine_rt.errors import EnvironmentProblem
    from spine_rt.pipelines import run_cohort

    def load():
        raise EnvironmentProblem("no such backend here")

    out_dir, cases = _plan(folder, tmp_path / "out")
    with pytest.raises(EnvironmentProblem):
        run_cohort(load, out_dir, cases, "spine_mr", labels={}, model=MODEL)
    rows = list(csv.DictReader((out_dir / "summary.csv").open()))
    assert [(row["case"], row["status"]) for row in rows] == [("s1", "not run"), ("s2", "not run"), ("s3", "not run")]
