"""DICOM series: geometry from the standard's tags, slice order, rescale, bad series, missing decoders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, generate_uid

import spine_rt.io.dicom as dicom_module
from spine_rt.errors import EnvironmentProblem, InputError
from spine_rt.io import read_dicom_series, read_image

ROWS, COLUMNS = 6, 5
ROW_SPACING, COLUMN_SPACING = 0.8, 0.6  # PixelSpacing = (between rows, between columns)


def _oblique_orientation() -> tuple[np.ndarray, np.ndarray]:
    angle = np.deg2rad(15)
    row_dir = np.array([np.cos(angle), np.sin(angle), 0.0])  # along increasing column index
    col_dir = np.array([0.0, 0.0, -1.0])  # along increasing row index (sagittal-ish)
    return row_dir, col_dir


def write_slice(
    path: Path,
    pixels: np.ndarray,
    position,
    orientation,
    series_uid: str,
    slope: float = 1.0,
    intercept: float = 0.0,
    transfer_syntax=ExplicitVRLittleEndian,
) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelSpacing = [ROW_SPACING, COLUMN_SPACING]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.SliceThickness = 3.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    data = pixels.astype("<u2").tobytes()
    if pydicom.uid.UID(transfer_syntax).is_compressed:
        ds.PixelData = encapsulate([data])  # never decoded: the missing decoder is reported first
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = data
    ds.save_as(path, enforce_file_format=True)


def write_series(folder: Path, n_slices=4, gap=3.0, slope=1.0, intercept=0.0, transfer_syntax=ExplicitVRLittleEndian):
    """An oblique series written in shuffled file order; returns (pixels per slice in spatial order, positions)."""
    folder.mkdir(parents=True, exist_ok=True)
    row_dir, col_dir = _oblique_orientation()
    normal = np.cross(row_dir, col_dir)
    origin = np.array([10.0, -20.0, 30.0])
    rng = np.random.default_rng(0)
    uid = generate_uid()
    pixels = [rng.integers(0, 4000, size=(ROWS, COLUMNS)).astype(np.uint16) for _ in range(n_slices)]
    positions = [origin + k * gap * normal for k in range(n_slices)]
    for name_index, k in enumerate(rng.permutation(n_slices)):
        write_slice(
            folder / f"IM{name_index:04d}",
            pixels[k],
            positions[k],
            np.concatenate(_oblique_orientation()),
            uid,
            slope,
            intercept,
            transfer_syntax,
        )
    return pixels, positions


def test_voxel_centres_are_where_the_standard_puts_them(tmp_path):
    pixels, positions = write_series(tmp_path / "series", intercept=-1000)
    (tmp_path / "series" / "README.txt").write_text("not a DICOM file")
    image = read_image(tmp_path / "series")
    assert image.shape == (COLUMNS, ROWS, 4)
    assert image.spacing == pytest.approx((COLUMN_SPACING, ROW_SPACING, 3.0))
    row_dir, col_dir = _oblique_orientation()
    for c, r, k in [(0, 0, 0), (4, 0, 1), (0, 5, 2), (3, 2, 3)]:
        lps = positions[k] + c * COLUMN_SPACING * row_dir + r * ROW_SPACING * col_dir
        ras = image.affine @ [c, r, k, 1]
        assert np.allclose(ras[:3], [-lps[0], -lps[1], lps[2]])
        assert image.array[c, r, k] == int(pixels[k][r, c]) - 1000
    assert image.array.dtype == np.int16
    assert image.meta["format"] == "dicom"
    assert image.header.ImagePositionPatient == pytest.approx(list(positions[0]))
    assert "PixelData" not in image.header


def test_non_integer_rescale_gives_float32(tmp_path):
    pixels, _ = write_series(tmp_path / "series", slope=0.5, intercept=1.25)
    image = read_dicom_series(tmp_path / "series")
    assert image.array.dtype == np.float32
    assert image.array[1, 2, 0] == pytest.approx(pixels[0][2, 1] * 0.5 + 1.25)


def test_single_slice_uses_the_slice_thickness(tmp_path):
    write_series(tmp_path / "series", n_slices=1)
    image = read_dicom_series(tmp_path / "series")
    assert image.shape == (COLUMNS, ROWS, 1)
    assert image.spacing[2] == pytest.approx(3.0)


def test_missing_decoder_names_it_and_the_pip_command(tmp_path, monkeypatch):
    write_series(tmp_path / "series", transfer_syntax=JPEG2000Lossless)
    monkeypatch.setattr(dicom_module, "decoder_is_available", lambda transfer_syntax: False)
    with pytest.raises(EnvironmentProblem) as caught:
        read_image(tmp_path / "series")
    message = str(caught.value)
    assert "JPEG 2000" in message and "pylibjpeg-openjpeg" in message
    assert "pip install pylibjpeg pylibjpeg-openjpeg" in message
    assert "\n" not in message
    assert caught.value.exit_code == 3


def test_missing_decoder_hint_for_jpeg_ls():
    error = dicom_module.missing_decoder_error(str(JPEGLSLossless), "folder")
    assert "JPEG-LS" in str(error) and "pip install" in str(error)


def test_missing_decoder_on_the_real_series(shared_data, monkeypatch):
    monkeypatch.setattr(dicom_module, "decoder_is_available", lambda transfer_syntax: False)
    with pytest.raises(EnvironmentProblem, match="pip install pylibjpeg pylibjpeg-openjpeg"):
        read_image(shared_data / "dicom" / "ts_example_ct")


def test_decoder_is_available_for_uncompressed_data():
    assert dicom_module.decoder_is_available(str(ExplicitVRLittleEndian))
    assert not dicom_module.decoder_is_available("1.2.3.4.5.6")


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no DICOM images"):
        read_image(tmp_path)


def test_two_series_in_one_folder(tmp_path):
    write_series(tmp_path / "a")
    write_series(tmp_path / "b")
    (tmp_path / "b" / "IM0000").rename(tmp_path / "a" / "other")
    with pytest.raises(InputError, match="2 DICOM series"):
        read_image(tmp_path / "a")


def test_missing_slice_is_irregular_spacing(tmp_path):
    write_series(tmp_path / "series", n_slices=5)
    folder = tmp_path / "series"
    # remove the spatially middle slice
    middle = sorted(folder.iterdir(), key=lambda p: pydicom.dcmread(p).ImagePositionPatient[1])[2]
    middle.unlink()
    with pytest.raises(InputError, match="irregular slice spacing"):
        read_image(folder)


def test_duplicate_positions(tmp_path):
    pixels, positions = write_series(tmp_path / "series", n_slices=3)
    uid = pydicom.dcmread(next((tmp_path / "series").iterdir())).SeriesInstanceUID
    write_slice(tmp_path / "series" / "copy", pixels[0], positions[0], np.concatenate(_oblique_orientation()), uid)
    with pytest.raises(InputError, match="share the position"):
        read_image(tmp_path / "series")


def test_missing_position(tmp_path):
    write_series(tmp_path / "series", n_slices=2)
    path = next((tmp_path / "series").iterdir())
    ds = pydicom.dcmread(path)
    del ds.ImagePositionPatient
    ds.save_as(path)
    with pytest.raises(InputError, match="lacks ImagePositionPatient"):
        read_image(tmp_path / "series")


def test_mixed_orientations(tmp_path):
    write_series(tmp_path / "series", n_slices=3)
    path = next((tmp_path / "series").iterdir())
    ds = pydicom.dcmread(path)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.save_as(path)
    with pytest.raises(InputError, match="differ in size, orientation"):
        read_image(tmp_path / "series")


def test_a_single_dicom_file_asks_for_its_folder(tmp_path):
    write_series(tmp_path / "series", n_slices=1)
    with pytest.raises(InputError, match="pass the folder"):
        read_image(tmp_path / "series" / "IM0000")
