"""DICOM SEG and TID 1500 SR: geometry in patient space, read-back labels, codes, repaired UIDs, dciodvfy."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicom_builders import oriented_volume, write_enhanced_mr, write_volume_series
from seg_checks import dciodvfy_errors, seg_labels_in_space

from spine_rt.errors import InputError
from spine_rt.io import read_image

pytestmark = pytest.mark.highdicom

NAMES = {0: "background", 1: "S", 2: "L5", 3: "L4", 11: "L5/S", 12: "L4/L5", 19: "T9/T10"}
ALGORITHM = None


def _algorithm():
    from spine_rt.dicom_out.segmentation import AlgorithmFacts

    return AlgorithmFacts("0.1.0", "sshsnet spine_mr (test)", "ab" * 32, "pkg")


def _labels(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 2, 3, 11, 12, 19], size=shape).astype(np.uint8)
    labels[:, :, 0] = 0  # an empty slice: the SEG omits its frames
    return labels


def _report(labels, image):
    from spine_rt.measure.structure_sizes import structures_found

    return {"structures": structures_found(labels, image.spacing, NAMES)}


def _write(tmp_path, image, labels, sr=True):
    from spine_rt.dicom_out.dicom_outputs import SourceImages, write_dicom_outputs

    return write_dicom_outputs(labels, _report(labels, image), SourceImages.of_image(image), NAMES, _algorithm(),
                               tmp_path / "seg.dcm", sr_path=tmp_path / "sr.dcm" if sr else None)


@pytest.mark.parametrize("orientation", ("sagittal", "coronal", "axial", "oblique"))
def test_seg_labels_sit_where_the_label_map_puts_them(tmp_path, orientation):
    from spine_rt.dicom_out.segmentation import SourceImages, labels_from_segmentation

    volume, affine = oriented_volume(orientation)
    write_volume_series(tmp_path / "series", volume, affine)
    image = read_image(tmp_path / "series")
    labels = _labels(image.shape)
    _write(tmp_path, image, labels, sr=False)
    seg_labels_in_space(tmp_path / "seg.dcm", labels, image.affine, NAMES)
    back = labels_from_segmentation(pydicom.dcmread(tmp_path / "seg.dcm"), SourceImages.of_image(image), NAMES)
    assert np.array_equal(back, labels)


def test_seg_on_an_enhanced_multi_frame_source(tmp_path):
    from spine_rt.dicom_out.segmentation import SourceImages, labels_from_segmentation

    volume, affine = oriented_volume("sagittal")
    path = write_enhanced_mr(tmp_path / "enhanced.dcm", volume, affine, frame_order=[2, 5, 0, 3, 1, 4])
    image = read_image(path)
    labels = _labels(image.shape, seed=1)
    _write(tmp_path, image, labels, sr=False)
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    source = pydicom.dcmread(path, stop_before_pixels=True)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    back = labels_from_segmentation(seg, SourceImages.of_image(image), NAMES)
    assert np.array_equal(back, labels)
    seg_labels_in_space(tmp_path / "seg.dcm", labels, image.affine, NAMES)


def test_seg_references_codes_and_algorithm(tmp_path):
    volume, affine = oriented_volume("sagittal")
    paths = write_volume_series(tmp_path / "series", volume, affine)
    image = read_image(tmp_path / "series")
    labels = _labels(image.shape)
    facts = _write(tmp_path, image, labels)
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    sources = {pydicom.dcmread(p).SOPInstanceUID for p in paths}
    referenced = {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == sources
    assert seg.StudyInstanceUID == image.header.StudyInstanceUID
    assert seg.FrameOfReferenceUID == image.header.FrameOfReferenceUID
    segments = {item.SegmentLabel: item for item in seg.SegmentSequence}
    assert list(segments) == ["S", "L5", "L4", "L5/S", "L4/L5", "T9/T10"]  # one per label found, in label order
    assert segments["L4/L5"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "84020006"  # disc of L4
    assert segments["S"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "54735007"  # sacrum
    assert segments["L5"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "49668003"
    assert segments["L5"].SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    algorithm = segments["L5"].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "sshsnet spine_mr (test)" and algorithm.AlgorithmVersion == "0.1.0"
    assert "model_sha256=" + "ab" * 32 in algorithm.AlgorithmParameters
    assert seg.DeviceSerialNumber == "ab" * 32 and "spine-rt" in str(seg.SoftwareVersions)
    assert facts["segments"] == {"S": 1, "L5": 2, "L4": 3, "L5/S": 4, "L4/L5": 5, "T9/T10": 6}
    assert "source UIDs generated" not in seg.ContentDescription


def test_sr_measurements_reference_their_segments(tmp_path):
    import highdicom as hd

    volume, affine = oriented_volume("sagittal")
    write_volume_series(tmp_path / "series", volume, affine)
    image = read_image(tmp_path / "series")
    labels = _labels(image.shape)
    _write(tmp_path, image, labels)
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    sr = hd.sr.srread(tmp_path / "sr.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 6
    expected = {entry["name"]: entry["volume_mm3"] for entry in _report(labels, image)["structures"]}
    numbers = {item.SegmentLabel: int(item.SegmentNumber) for item in seg.SegmentSequence}
    for group in groups:
        name = group.tracking_identifier
        reference = group.referenced_segment
        assert reference.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert reference.referenced_segment_numbers == [numbers[name]]
        (volume_measurement,) = group.get_measurements()
        assert volume_measurement.name.value == "118565006"  # SCT Volume
        assert volume_measurement.unit.value == "mm3"
        assert volume_measurement.value == pytest.approx(expected[name])


def test_empty_uids_are_generated_and_the_seg_says_so(tmp_path):
    volume, affine = oriented_volume("axial")
    paths = write_volume_series(tmp_path / "series", volume, affine, series_uid="")
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = ""
        ds.SOPInstanceUID = ""
        ds.save_as(path)
    image = read_image(tmp_path / "series")
    labels = _labels(image.shape)
    facts = _write(tmp_path, image, labels)
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    assert "source UIDs generated" in seg.ContentDescription
    parameters = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmParameters
    assert "StudyInstanceUID SeriesInstanceUID SOPInstanceUID" in parameters
    assert facts["source_uids_generated"] == ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    assert seg.StudyInstanceUID and seg.ReferencedSeriesSequence[0].SeriesInstanceUID


def test_no_structure_no_seg(tmp_path):
    volume, affine = oriented_volume("axial")
    write_volume_series(tmp_path / "series", volume, affine)
    image = read_image(tmp_path / "series")
    with pytest.raises(InputError, match="no structure was found"):
        _write(tmp_path, image, np.zeros(image.shape, np.uint8))
    assert not (tmp_path / "seg.dcm").exists() and not (tmp_path / "sr.dcm").exists()


def test_a_nifti_input_cannot_give_a_seg(tmp_path):
    from spine_rt.dicom_out.segmentation import SourceImages
    from spine_rt.io import Image

    with pytest.raises(InputError, match="needs a DICOM input"):
        SourceImages.of_image(Image(np.zeros((2, 2, 2)), np.eye(4)))


@pytest.mark.dciodvfy
@pytest.mark.parametrize("kind", ("series", "enhanced", "empty_uids"))
def test_seg_and_sr_pass_dciodvfy(tmp_path, kind):
    volume, affine = oriented_volume("oblique")
    if kind == "enhanced":
        image = read_image(write_enhanced_mr(tmp_path / "enhanced.dcm", volume, affine))
    else:
        paths = write_volume_series(tmp_path / "series", volume, affine)
        if kind == "empty_uids":
            for path in paths:
                ds = pydicom.dcmread(path)
                ds.StudyInstanceUID = ds.SeriesInstanceUID = ds.SOPInstanceUID = ""
                ds.save_as(path)
        image = read_image(tmp_path / "series")
    _write(tmp_path, image, _labels(image.shape))
    assert dciodvfy_errors(tmp_path / "seg.dcm") == []
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []


@pytest.mark.dciodvfy
def test_seg_and_sr_of_the_real_anonymised_ct_pass_dciodvfy(tmp_path, shared_data):
    image = read_image(shared_data / "dicom" / "ts_example_ct")
    labels = np.zeros(image.shape, np.uint8)
    labels[200:300, 150:260, 4:12] = 2
    labels[200:300, 260:300, 6:16] = 12
    facts = _write(tmp_path, image, labels)
    assert "SeriesInstanceUID" in facts["source_uids_generated"]
    assert dciodvfy_errors(tmp_path / "seg.dcm") == []
    assert dciodvfy_errors(tmp_path / "sr.dcm") == []
    seg_labels_in_space(tmp_path / "seg.dcm", labels, image.affine, NAMES)
