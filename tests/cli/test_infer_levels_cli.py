"""``spine-rt infer`` with the bundled demo model: level naming and measurements in the output and summary.csv."""

from __future__ import annotations

import csv
import json

import nibabel as nib

from spine_rt.cli import main
from spine_rt.demo import phantom_spacing_of_package
from spine_rt.measure.measurement_summary import summary_columns
from spine_rt.model_package import ModelPackage
from spine_rt.phantoms import spine_mr
from spine_rt.pipelines.default_model import default_package_path


def test_a_cohort_reports_measurements_and_level_naming(tmp_path, capsys):
    package = ModelPackage.open(default_package_path())
    scans = tmp_path / "scans"
    scans.mkdir()
    phantom = spine_mr(2000, spacing=phantom_spacing_of_package(package.manifest.preprocessing))
    nib.save(nib.Nifti1Image(phantom.image, phantom.affine), scans / "a.nii.gz")
    out = tmp_path / "out"
    assert main.main(["infer", str(scans), "-o", str(out), "--backend", "onnxruntime", "--device", "cpu",
                      "--no-relabel-levels"]) == 0
    report = json.loads((out / "a_report.json").read_text())
    assert report["relabel_levels"] is False and report["level_naming"]["renamed"] == []
    assert report["measurements"]["definitions"]["wedge_ratio"] == "anterior height / posterior height"
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert set(summary_columns()) <= set(rows[0])
    assert rows[0]["level_naming"] in ("consistent", "flagged")
    assert 15 < float(rows[0]["L3_posterior_height_mm"]) < 40

    single = tmp_path / "one"
    single.mkdir()
    assert main.main(["infer", str(scans / "a.nii.gz"), "-o", str(single), "--backend", "onnxruntime",
                      "--relabel-levels", "--report", str(single / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert json.loads((single / "report.json").read_text())["relabel_levels"] is True  # the recount on request
    assert "level naming:" in printed and "vertebral body heights (mm, anterior/middle/posterior)" in printed



def test_maps_dtype_reaches_the_report_and_a_bad_one_exits_2(tmp_path, capsys):
    package = ModelPackage.open(default_package_path())
    phantom = spine_mr(2001, spacing=phantom_spacing_of_package(package.manifest.preprocessing))
    scan = tmp_path / "a.nii.gz"
    nib.save(nib.Nifti1Image(phantom.image, phantom.affine), scan)
    for given, expected in ((["--maps-dtype", "float16"], "float16"), ([], "float32")):  # fp32: exact by default
        report = tmp_path / f"report_{expected}.json"
        assert main.main(["infer", str(scan), "-o", str(tmp_path / f"{expected}.nii.gz"), "--backend", "onnxruntime",
                          "--device", "cpu", *given, "--report", str(report)]) == 0
        assert json.loads(report.read_text())["maps_dtype"] == expected
    try:
        code = main.main(["infer", str(scan), "-o", str(tmp_path / "bad.nii.gz"), "--maps-dtype", "float64"])
    except SystemExit as stop:
        code = stop.code
    assert code == 2 and "invalid choice: 'float64'" in capsys.readouterr().err
    assert not (tmp_path / "bad.nii.gz").exists()
