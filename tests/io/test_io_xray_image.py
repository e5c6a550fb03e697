"""X-ray pictures: PNG/JPEG via pillow, single-frame DICOM (rescale, MONOCHROME1, pixel spacing), bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PillowImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

import spine_rt.io.dicom as dicom_module
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.io import XrayImage, read_xray_image
from spine_rt.io.xray_image import is_xray_image_path


def _gradient(shape=(12, 9)) -> np.ndarray:
    return (np.arange(shape[0] * shape[1]).reshape(shape) * 2).astype(np.uint8)


def write_xray_dicom(path: Path, pixels: np.ndarray, *, photometric="MONOCHROME2", pixel_spacing=None,
                     imager_spacing=None, slope=1.0, intercept=0.0, frames=None,
                     transfer_syntax=ExplicitVRLittleEndian) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = list(imager_spacing)
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    data = pixels.astype("<u2").tobytes()
    if UID(transfer_syntax).is_compressed:
        ds.PixelData = encapsulate([data])  # never decoded: the missing decoder is reported first
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = data
    ds.save_as(path, enforce_file_format=True)
    return path


def test_png_grey_rgb_and_16_bit(tmp_path):
    grey = _gradient()
    PillowImage.fromarray(grey).save(tmp_path / "grey.png")
    PillowImage.fromarray(np.repeat(grey[:, :, None], 3, axis=2)).save(tmp_path / "rgb.png")
    deep = (grey.astype(np.uint16) * 200)
    PillowImage.fromarray(deep).save(tmp_path / "deep.png")
    for name in ("grey.png", "rgb.png"):
        read = read_xray_image(tmp_path / name)
        assert read.pixels.dtype == np.uint8 and read.shape == (12, 9)
        np.testing.assert_array_equal(read.pixels, grey)
        assert read.pixel_spacing_mm is None and read.source == tmp_path / name
    read = read_xray_image(tmp_path / "deep.png")
    assert read.pixels.dtype == np.uint16
    np.testing.assert_array_equal(read.pixels, deep)


def test_jpeg_is_read_as_grey(tmp_path):
    flat = np.full((16, 16), 120, np.uint8)
    PillowImage.fromarray(flat).convert("RGB").save(tmp_path / "x.jpg", quality=95)
    read = read_xray_image(tmp_path / "x.jpg")
    assert read.shape == (16, 16) and abs(float(read.pixels.mean()) - 120) < 2


def test_dicom_rescale_and_pixel_spacing(tmp_path):
    stored = np.arange(20, dtype=np.uint16).reshape(4, 5) * 100
    path = write_xray_dicom(tmp_path / "a.dcm", stored, pixel_spacing=(0.2, 0.15), imager_spacing=(0.3, 0.3),
                            slope=2.0, intercept=-10.0)
    read = read_xray_image(path)
    np.testing.assert_allclose(read.pixels, stored * 2.0 - 10.0)
    assert read.pixel_spacing_mm == (0.2, 0.15) and read.meta["spacing_tag"] == "PixelSpacing"
    imager = read_xray_image(write_xray_dicom(tmp_path / "b.dcm", stored, imager_spacing=(0.3, 0.25)))
    assert imager.pixel_spacing_mm == (0.3, 0.25) and imager.meta["spacing_tag"] == "ImagerPixelSpacing"
    assert read_xray_image(write_xray_dicom(tmp_path / "c.dcm", stored)).pixel_spacing_mm is None


def test_monochrome1_is_inverted_so_bone_is_bright(tmp_path):
    stored = np.array([[0, 1000], [3000, 4000]], np.uint16)
    read = read_xray_image(write_xray_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    np.testing.assert_allclose(read.pixels, [[4000, 3000], [1000, 0]])
    assert read.meta["photometric"] == "MONOCHROME1"


def test_dicom_found_by_its_preamble_without_suffix(tmp_path):
    path = write_xray_dicom(tmp_path / "image", np.ones((3, 3), np.uint16))
    assert read_xray_image(path).meta["format"] == "dicom"


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_xray_image(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match="not a readable PNG/JPEG"):
        read_xray_image(tmp_path / "broken.png")
    (tmp_path / "broken.dcm").write_bytes(b"nothing here")
    with pytest.raises(InputError, match="DICOM"):
        read_xray_image(tmp_path / "broken.dcm")
    two = np.ones((2, 3, 3), np.uint16)
    with pytest.raises(InputError, match="multi-frame"):
        read_xray_image(write_xray_dicom(tmp_path / "multi.dcm", two, frames=2))


def test_compressed_dicom_without_decoder_is_an_environment_problem(tmp_path, monkeypatch):
    path = write_xray_dicom(tmp_path / "j2k.dcm", np.ones((3, 3), np.uint16), transfer_syntax=JPEG2000Lossless)
    monkeypatch.setattr(dicom_module, "decoder_is_available", lambda syntax: False)
    with pytest.raises(EnvironmentProblem, match="JPEG 2000"):
        read_xray_image(path)


def test_xray_image_validation():
    with pytest.raises(InputError, match="2D"):
        XrayImage(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="NaN"):
        XrayImage(np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match="pixel spacing"):
        XrayImage(np.zeros((2, 2)), pixel_spacing_mm=(0.1, -1))
    assert XrayImage(np.zeros((2, 2)), pixel_spacing_mm=[0.1, 0.2]).pixel_spacing_mm == (0.1, 0.2)
    assert is_xray_image_path("a/B.PNG") and is_xray_image_path("x.dcm") and not is_xray_image_path("s.nii.gz")
