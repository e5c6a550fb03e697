"""``spine-rt infer`` on DICOM (series choice, SEG, SR, modality) and ``spine-rt series``.

The done-when check of issue 16: ``spine-rt infer MIXED -o seg.dcm --output-type dicom-seg --sr sr.dcm`` on
a mixed folder (localiser, T1 and T2 sagittal, CT) with the tests' tiny MR package; dciodvfy finds no error in
either file and the SEG's labels equal the NIfTI route's at every voxel of every slice, compared by patient
position (highdicom's own SEG geometry against the NIfTI affine).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dicom_builders import mixed_study, oriented_volume, save_nifti, write_enhanced_mr, write_volume_series
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from seg_checks import dciodvfy_errors, seg_labels_in_space

from spine_rt.cli import main


def infer(*arguments: str) -> int:
    return main.main(["infer", *arguments])


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def done_when(tmp_path_factory, tiny_sshsnet_package):
    """The issue's command on a mixed folder, and the NIfTI route on the same voxels."""
    pytest.importorskip("highdicom")
    root = tmp_path_factory.mktemp("done_when")
    facts = mixed_study(root / "mixed")
    before = _hashes(root / "mixed")
    model = str(tiny_sshsnet_package.root)
    code = infer(str(root / "mixed"), "-o", str(root / "seg.dcm"), "--output-type", "dicom-seg",
                 "--sr", str(root / "sr.dcm"), "--report", str(root / "report.json"), "--model", model)
    nifti = save_nifti(root / "t2.nii.gz", facts["volume"], facts["affine"])
    nifti_code = infer(str(nifti), "-o", str(root / "nifti_labels.nii.gz"), "--model", model)
    return {"root": root, "code": code, "nifti_code": nifti_code, "before": before, "package": tiny_sshsnet_package,
            **facts}


@pytest.mark.highdicom
def test_seg_labels_equal_the_nifti_route_on_every_slice(done_when):
    root = done_when["root"]
    assert done_when["code"] == 0 and done_when["nifti_code"] == 0
    labels = np.asarray(nib.load(root / "nifti_labels.nii.gz").dataobj)
    assert labels.any(), "the tiny model found nothing; the comparison would be empty"
    names = done_when["package"].manifest.labels
    seg_labels_in_space(root / "seg.dcm", labels, done_when["affine"], names)
    seg = pydicom.dcmread(root / "seg.dcm")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == done_when["series_uid"]
    assert _hashes(root / "mixed") == done_when["before"]  # the input is untouched


@pytest.mark.highdicom
def test_the_report_says_which_series_and_why(done_when):
    report = json.loads((done_when["root"] / "report.json").read_text())
    series = report["input_series"]
    assert series["series_instance_uid"] == done_when["series_uid"]
    assert series["description"] == "T2 SAG" and series["series_number"] == 3 and series["series_in_input"] == 4
    assert "modality MR" in series["chosen_because"] and "sagittal" in series["chosen_because"]
    assert report["dicom"]["seg"].endswith("seg.dcm") and report["dicom"]["sr"].endswith("sr.dcm")
    assert set(report["dicom"]["segments"]) == {s["name"] for s in report["structures"]}


@pytest.mark.highdicom
def test_an_enhanced_multi_frame_file_and_a_zip_give_the_nifti_routes_labels(done_when, tmp_path):
    root = done_when["root"]
    labels = np.asarray(nib.load(root / "nifti_labels.nii.gz").dataobj)
    model = str(done_when["package"].root)
    enhanced = write_enhanced_mr(tmp_path / "enhanced.dcm", done_when["volume"], done_when["affine"],
                                 frame_order=list(np.random.default_rng(4).permutation(done_when["volume"].shape[2])))
    assert infer(str(enhanced), "-o", str(tmp_path / "seg.dcm"), "--output-type", "dicom-seg", "--model", model) == 0
    seg_labels_in_space(tmp_path / "seg.dcm", labels, done_when["affine"], done_when["package"].manifest.labels)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((root / "mixed").iterdir()):
            handle.write(path, f"export/{path.name}")
    assert infer(str(archive), "-o", str(tmp_path / "zip.nii.gz"), "--model", model) == 0
    # the DICOM grid runs along the slice normal, the NIfTI's the other way: compare in patient space
    from_zip = nib.as_closest_canonical(nib.load(tmp_path / "zip.nii.gz"))
    from_nifti = nib.as_closest_canonical(nib.load(root / "nifti_labels.nii.gz"))
    assert np.allclose(from_zip.affine, from_nifti.affine, atol=1e-4)
    assert np.array_equal(np.asarray(from_zip.dataobj), np.asarray(from_nifti.dataobj))


@pytest.mark.highdicom
@pytest.mark.dciodvfy
def test_seg_and_sr_of_the_cli_pass_dciodvfy(done_when):
    assert dciodvfy_errors(done_when["root"] / "seg.dcm") == []
    assert dciodvfy_errors(done_when["root"] / "sr.dcm") == []


def test_spine_rt_series_lists_and_marks_the_choice(tmp_path, capsys):
    facts = mixed_study(tmp_path / "mixed")
    assert main.main(["series", str(tmp_path / "mixed"), "--json", str(tmp_path / "series.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["number", "description", "modality"]
    chosen = [line for line in out if line.startswith("* ")]
    assert len(chosen) == 1 and "T2 SAG" in chosen[0] and facts["series_uid"] in chosen[0]
    assert "4 series in" in out[-1]
    listed = json.loads((tmp_path / "series.json").read_text())
    assert [s["description"] for s in listed["series"]] == ["localizer", "T1 SAG", "T2 SAG", "CT abdomen"]
    assert [s["chosen"] for s in listed["series"]] == [False, False, True, False]


def test_infer_list_series(tmp_path, capsys):
    mixed_study(tmp_path / "mixed")
    assert infer(str(tmp_path / "mixed"), "--list-series") == 0
    out = capsys.readouterr().out
    assert "T2 SAG" in out and "CT abdomen" in out and "4 series in" in out
    assert not list(Path.cwd().glob("mixed_seg*"))


def test_an_mr_model_refuses_a_ct_series_in_one_line(tmp_path, capsys):
    volume, affine = oriented_volume("axial", shape=(16, 16, 8))
    write_volume_series(tmp_path / "ct", volume, affine, modality="CT", description="CT spine")
    assert infer(str(tmp_path / "ct"), "-o", str(tmp_path / "out.nii.gz")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is CT, but the model" in err[0] and "--force" in err[0]
    assert not (tmp_path / "out.nii.gz").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--sr", "sr.dcm"], "--sr needs --output-type dicom-seg"),
    (["--output-type", "dicom-seg", "-o", "seg.nii.gz"], "must end in .dcm"),
    (["--series", "FLAIR"], "matches no series"),
    (["--output-type", "dicom-seg", "--sr", "sr.txt"], "must end in .dcm"),
])
def test_bad_dicom_options_are_one_line(tmp_path, capsys, monkeypatch, arguments, message):
    mixed_study(tmp_path / "mixed")
    monkeypatch.chdir(tmp_path)
    assert infer(str(tmp_path / "mixed"), *arguments) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.glob("*.dcm")) and not list(tmp_path.glob("*.nii.gz"))


def test_a_nifti_input_cannot_give_a_seg(tmp_path, capsys):
    volume, affine = oriented_volume("sagittal")
    save_nifti(tmp_path / "scan.nii.gz", volume, affine)
    assert infer(str(tmp_path / "scan.nii.gz"), "--output-type", "dicom-seg", "-o", str(tmp_path / "s.dcm")) == 2
    assert "need a DICOM input" in capsys.readouterr().err


def _pixelwise_xray_package(folder: Path) -> Path:
    """The CLI tests' hand-built pixel-wise X-ray package (one definition, in tests/cli/test_infer_cli.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("infer_cli_tests",
                                                  Path(__file__).parents[1] / "cli" / "test_infer_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_pixelwise_xray_package(folder)


def _write_dx(path: Path, pixels: np.ndarray, spacing: float) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^Xray", "X1", "", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "1200", "1"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "DX", 1, 1
    ds.ImagerPixelSpacing = [spacing, spacing]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint8)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.highdicom
def test_an_xray_seg_and_sr_with_the_lumbar_values(tmp_path):
    """The phantom's exact label map, measured by spine_rt.measure, written as SEG + SR on a DX source."""
    import highdicom as hd

    from spine_rt.dicom_out.dicom_outputs import AlgorithmFacts, SourceImages, write_dicom_outputs
    from spine_rt.measure import measure_lumbar_parameters
    from spine_rt.measure.structure_sizes import structures_found
    from spine_rt.anatomy.label_tables import XRAY_LABELS
    from spine_rt.phantoms import lumbar_xray

    phantom = lumbar_xray(0, size=(200, 160))
    source = _write_dx(tmp_path / "xray.dcm", phantom.image, phantom.pixel_spacing_mm)
    labels = np.asarray(phantom.mask, np.uint8)
    spacing = (phantom.pixel_spacing_mm, phantom.pixel_spacing_mm)
    measurement = measure_lumbar_parameters(labels, spacing)
    report = {"structures": structures_found(labels, spacing, XRAY_LABELS), "measurements": measurement.report()}
    write_dicom_outputs(labels, report, SourceImages.of_file(source), XRAY_LABELS,
                        AlgorithmFacts("0.1.0", "mbnet xray (test)", "cd" * 32), tmp_path / "seg.dcm",
                        sr_path=tmp_path / "sr.dcm")
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    back = seg.get_pixels_by_source_instance([pydicom.dcmread(source).SOPInstanceUID], combine_segments=True,
                                             relabel=False)[0]
    numbers = {int(s.SegmentNumber): s.SegmentLabel for s in seg.SegmentSequence}
    by_name = {name: label for label, name in XRAY_LABELS.items()}
    assert np.array_equal(np.vectorize(lambda n: by_name[numbers[n]] if n else 0)(back), labels)
    sr = hd.sr.srread(tmp_path / "sr.dcm")
    (values,) = sr.content.get_image_measurement_groups()
    measured = {m.name.value: m.value for m in values.get_measurements()}
    expected = {k: v["value"] for k, v in measurement.report()["values"].items() if v["value"] is not None}
    assert expected and measured == pytest.approx(expected)
    assert len(sr.content.get_volumetric_roi_measurement_groups()) == len(np.unique(labels)) - 1


@pytest.mark.highdicom
@pytest.mark.dciodvfy
def test_the_xray_cli_route_passes_dciodvfy(tmp_path, capsys):
    """``spine-rt infer xray.dcm --output-type dicom-seg --sr`` with a pixel-wise X-ray package (onnx)."""
    from spine_rt.phantoms import lumbar_xray

    phantom = lumbar_xray(1, size=(200, 160))
    source = _write_dx(tmp_path / "xray.dcm", phantom.image, phantom.pixel_spacing_mm)
    package = _pixelwise_xray_package(tmp_path / "pkg")
    code = infer(str(source), "--model", str(package), "-o", str(tmp_path / "seg.dcm"), "--output-type",
                 "dicom-seg", "--sr", str(tmp_path / "sr.dcm"), "--report", str(tmp_path / "r.json"))
    assert code == 0, capsys.readouterr().err
    assert dciodvfy_errors(tmp_path / "seg.dcm") == []
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []
    assert json.loads((tmp_path / "r.json").read_text())["dicom"]["segments"]


def test_an_xray_model_refuses_an_mr_picture(tmp_path, capsys, xray_package_path):
    from spine_rt.phantoms import lumbar_xray

    source = _write_dx(tmp_path / "mr.dcm", lumbar_xray(2, size=(200, 160)).image, 0.5)
    ds = pydicom.dcmread(source)
    ds.Modality = "MR"
    ds.save_as(source)
    assert infer(str(source), "--model", xray_package_path, "-o", str(tmp_path / "out.png")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is MR, but the model" in err[0] and "--force" in err[0]
    assert infer(str(source), "--model", xray_package_path, "-o", str(tmp_path / "out.png"), "--force") == 0
    assert (tmp_path / "out.png").is_file()


@pytest.fixture(scope="module")
def xray_package_path(tmp_path_factory) -> str:
    return str(_pixelwise_xray_package(tmp_path_factory.mktemp("xray_pkg") / "pkg"))


def test_without_highdicom_dicom_seg_is_exit_3_before_any_work(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "highdicom" else real(name, *a))
    mixed_study(tmp_path / "mixed")
    assert infer(str(tmp_path / "mixed"), "-o", str(tmp_path / "seg.dcm"), "--output-type", "dicom-seg") == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'spine-rt[dicom]'" in err[0]
    assert not (tmp_path / "seg.dcm").exists()
