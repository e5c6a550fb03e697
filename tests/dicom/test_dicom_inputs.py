"""DICOM inputs: orientations, multi-frame, zip, DICOMDIR, gaps, damaged files, mixed folders, the series
chooser, the modality check and repaired UIDs; series built here with pydicom (``dicom_builders``)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from dicom_builders import (
    mixed_study,
    oriented_volume,
    write_enhanced_mr,
    write_volume_series,
)
from pydicom.uid import generate_uid

from spine_rt.errors import InputError
from spine_rt.io import read_image
from spine_rt.io.dicom import read_series
from spine_rt.io.dicom_series import index_dicom, series_table
from spine_rt.io.series_choice import check_modality, choose_series, mentions_contrast

ORIENTATIONS = ("sagittal", "coronal", "axial", "oblique")


def assert_same_voxels_in_space(image, volume: np.ndarray, affine: np.ndarray) -> None:
    """Every voxel of ``image`` lies where the same value lies in (volume, affine): nibabel's canonical forms match,
    and an explicit check maps each voxel centre of ``image`` to the original's index."""
    ours = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(image.array), image.affine))
    theirs = nib.as_closest_canonical(nib.Nifti1Image(volume, affine))
    assert np.allclose(ours.affine, theirs.affine, atol=1e-4)
    assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
    index = np.indices(image.shape).reshape(3, -1)
    world = image.affine @ np.vstack([index, np.ones(index.shape[1])])
    original = np.linalg.solve(affine, world)[:3]
    assert np.allclose(original, np.round(original), atol=1e-4)
    i, j, k = np.round(original).astype(int)
    assert np.array_equal(volume[i, j, k], np.asarray(image.array).reshape(-1))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_every_orientation_lands_on_the_same_patient_coordinates(tmp_path, orientation):
    volume, affine = oriented_volume(orientation)
    write_volume_series(tmp_path / "series", volume, affine)
    image = read_image(tmp_path / "series")
    assert_same_voxels_in_space(image, volume, affine)
    study = index_dicom(tmp_path / "series")
    assert study.series[0].orientation == orientation
    assert study.series[0].spacing == pytest.approx((0.9, 0.7, 3.0))


@pytest.mark.parametrize("orientation", ("sagittal", "oblique"))
def test_enhanced_multi_frame_mr_with_shuffled_frames(tmp_path, orientation):
    volume, affine = oriented_volume(orientation)
    order = [3, 0, 5, 1, 4, 2]
    path = write_enhanced_mr(tmp_path / "enhanced.dcm", volume, affine, frame_order=order)
    image = read_image(path)
    assert_same_voxels_in_space(image, volume, affine)
    source = image.meta["dicom_source"]
    assert image.meta["multi_frame"] and len(source.datasets) == 1
    # slice k of the array is the frame that holds slice k of the original volume (or its mirror)
    frames = [frame for _, frame in source.slices]
    assert sorted(frames) == list(range(6))
    assert [order[f] for f in frames] in (list(range(6)), list(range(5, -1, -1)))


def test_a_zip_of_a_series_and_a_dicomdir(tmp_path):
    volume, affine = oriented_volume("sagittal")
    paths = write_volume_series(tmp_path / "series", volume, affine)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in paths:
            handle.write(path, f"study/{path.name}")
        handle.writestr("study/README.txt", "not DICOM")
    assert_same_voxels_in_space(read_image(archive), volume, affine)

    from pydicom.fileset import FileSet

    fileset = FileSet()
    for path in paths:
        fileset.add(pydicom.dcmread(path))
    fileset.write(tmp_path / "media")
    assert (tmp_path / "media" / "DICOMDIR").is_file()
    assert_same_voxels_in_space(read_image(tmp_path / "media"), volume, affine)
    assert_same_voxels_in_space(read_image(tmp_path / "media" / "DICOMDIR"), volume, affine)


def test_a_missing_slice_names_the_gap(tmp_path):
    volume, affine = oriented_volume("axial", shape=(8, 8, 7))
    paths = write_volume_series(tmp_path / "series", volume, affine)
    by_slice = {pydicom.dcmread(p).InstanceNumber: p for p in paths}
    by_slice[4].unlink()  # slice k = 3
    with pytest.raises(InputError) as caught:
        read_image(tmp_path / "series")
    message = str(caught.value)
    assert "1 slice missing" in message
    assert by_slice[3].name in message and by_slice[5].name in message
    assert "6.000 mm against 3.000 mm" in message
    assert "\n" not in message


def test_a_truncated_file_is_named(tmp_path):
    volume, affine = oriented_volume("sagittal")
    paths = write_volume_series(tmp_path / "series", volume, affine)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 50])  # pixel data cut short
    with pytest.raises(InputError, match=rf"{paths[2].name}.*damaged or truncated"):
        read_image(tmp_path / "series")
    paths[4].write_bytes(paths[4].read_bytes()[:300])  # header cut short: not even readable as DICOM
    with pytest.raises(InputError, match=rf"cannot read the DICOM file {paths[4].name}"):
        read_image(tmp_path / "series")


def test_several_series_are_listed_with_number_description_and_uid(tmp_path):
    facts = mixed_study(tmp_path / "mixed")
    with pytest.raises(InputError) as caught:
        read_image(tmp_path / "mixed")
    message = str(caught.value)
    assert "holds 4 DICOM series" in message
    for text in ('series 1 "localizer"', 'series 2 "T1 SAG"', 'series 3 "T2 SAG"', 'series 4 "CT abdomen"',
                 f"UID {facts['series_uid']}"):
        assert text in message
    assert "\n" not in message
    image = read_image(tmp_path / "mixed", series="T2")
    assert image.meta["series_instance_uid"] == facts["series_uid"]
    assert_same_voxels_in_space(image, facts["volume"], facts["affine"])


def test_the_series_table(tmp_path):
    mixed_study(tmp_path / "mixed")
    table = series_table(index_dicom(tmp_path / "mixed")).splitlines()
    assert table[0].split()[:6] == ["number", "description", "modality", "orientation", "slices", "spacing"]
    assert len(table) == 5
    assert table[3].split()[:6] == ["3", "T2", "SAG", "MR", "sagittal", "12"]
    assert "axial" in table[4] and "CT" in table[4] and "40" in table[4]


def test_the_rule_prefers_mr_sagittal_then_contrast_then_slices(tmp_path):
    mixed_study(tmp_path / "mixed")
    study = index_dicom(tmp_path / "mixed")
    choice = choose_series(study, task="spine_mr")
    assert choice.series.description == "T2 SAG"
    assert "modality MR" in choice.reason and "sagittal" in choice.reason and "12 slices" in choice.reason
    assert choose_series(study, task="spine_mr", contrast="T1").series.description == "T1 SAG"
    assert choose_series(study, task="spine_mr", contrast="T2").series.description == "T2 SAG"
    # without the MR rule the CT series has the most slices (but is axial: sagittal still wins)
    assert choose_series(study).series.description == "T2 SAG"
    only_ct = [s for s in study.series if s.modality == "CT"]
    assert choose_series(type(study)(study.source, tuple(only_ct), ())).series.modality == "CT"


def test_series_requests(tmp_path):
    facts = mixed_study(tmp_path / "mixed")
    study = index_dicom(tmp_path / "mixed")
    assert choose_series(study, request="2").series.description == "T1 SAG"
    assert choose_series(study, request=facts["series_uid"]).series.description == "T2 SAG"
    assert choose_series(study, request="t1*").series.description == "T1 SAG"
    assert choose_series(study, request="abdomen").series.modality == "CT"
    with pytest.raises(InputError, match='matches 2 series.*"T1 SAG".*"T2 SAG"'):
        choose_series(study, request="SAG")
    with pytest.raises(InputError, match="matches no series"):
        choose_series(study, request="FLAIR")


def test_contrast_tokens():
    assert mentions_contrast("sag T2_TSE", "T2") and mentions_contrast("t2w", "T2")
    assert not mentions_contrast("T21 sag", "T2") and not mentions_contrast("PT2", "T2")


def test_modality_check(tmp_path):
    mixed_study(tmp_path / "mixed")
    study = index_dicom(tmp_path / "mixed")
    ct = next(s for s in study.series if s.modality == "CT")
    mr = next(s for s in study.series if s.modality == "MR")
    with pytest.raises(InputError, match="is CT, but the model pkg is a spine_mr model.*--force"):
        check_modality(ct, "spine_mr", "pkg")
    assert "running anyway" in check_modality(ct, "spine_mr", "pkg", force=True)
    assert check_modality(mr, "spine_mr", "pkg") is None
    with pytest.raises(InputError, match="is MR, but the model pkg is a xray model"):
        check_modality(mr, "xray", "pkg")


def test_empty_uids_are_repaired_consistently_and_repeatably(tmp_path):
    volume, affine = oriented_volume("sagittal")
    paths = write_volume_series(tmp_path / "series", volume, affine, series_uid="")
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = ""
        ds.SOPInstanceUID = ""
        del ds.FrameOfReferenceUID
        ds.save_as(path)
    before = {p.name: p.read_bytes() for p in paths}
    first = read_image(tmp_path / "series")
    second = read_image(tmp_path / "series")
    assert set(first.meta["uids_repaired"]) == {"StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
                                                "SOPInstanceUID"}
    headers = first.meta["dicom_source"].datasets
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {str(h.get(keyword)) for h in headers}
        assert len(values) == 1 and values != {""}
        assert values == {str(h.get(keyword)) for h in second.meta["dicom_source"].datasets}
    sop = [str(h.SOPInstanceUID) for h in headers]
    assert len(set(sop)) == len(sop)
    assert sop == [str(h.file_meta.MediaStorageSOPInstanceUID) for h in headers]  # taken from the file meta
    assert {p.name: p.read_bytes() for p in paths} == before  # the input is never touched


def test_the_real_anonymised_ct_gets_uids(shared_data):
    image = read_image(shared_data / "dicom" / "ts_example_ct")
    assert "SeriesInstanceUID" in image.meta["uids_repaired"]
    assert image.meta["series_instance_uid"]
    study = index_dicom(shared_data / "dicom" / "ts_example_ct")
    assert study.series[0].orientation == "axial" and study.series[0].slices == 20


def test_a_derived_seg_in_the_folder_is_not_a_series(tmp_path):
    volume, affine = oriented_volume("sagittal")
    paths = write_volume_series(tmp_path / "series", volume, affine)
    ds = pydicom.dcmread(paths[0])
    ds.Modality = "SEG"
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(tmp_path / "series" / "old_seg.dcm")
    study = index_dicom(tmp_path / "series")
    assert len(study.series) == 1
    shutil.rmtree(tmp_path / "series")
