"""save_labels / save_image: the input's header geometry, atomic replacement, refusal to overwrite the input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import spine_rt.io.write as write_module
from spine_rt.errors import InputError
from spine_rt.io import GridTransform, Image, MR_MODEL_AXES, read_image, save_image, save_labels


def _scan(tmp_path, qform_code=2, sform_code=1) -> Image:
    affine = np.array([[0, 0, 1.0, -32.2], [-1.0, 0, 0, 31.8], [0, 1.0, 0, -19.3], [0, 0, 0, 1]])  # PSR
    nifti = nib.Nifti1Image(np.random.default_rng(0).integers(0, 900, size=(6, 7, 8)).astype(np.int16), affine)
    nifti.set_qform(affine, code=qform_code)
    nifti.set_sform(affine, code=sform_code)
    nib.save(nifti, tmp_path / "scan.nii.gz")
    return read_image(tmp_path / "scan.nii.gz")


@pytest.mark.parametrize(("qform_code", "sform_code"), [(2, 1), (0, 2), (1, 0), (1, 1)])
def test_labels_get_the_input_geometry_and_codes(tmp_path, qform_code, sform_code):
    image = _scan(tmp_path, qform_code, sform_code)
    labels = (image.array > 450).astype(np.int64)
    out = save_labels(labels, like=image, path=tmp_path / "seg.nii.gz")
    written = nib.load(out)
    assert written.get_data_dtype() == np.uint8
    assert np.array_equal(np.asanyarray(written.dataobj), labels)
    assert np.allclose(written.affine, image.affine, atol=1e-6)
    assert int(written.header["qform_code"]) == qform_code
    assert int(written.header["sform_code"]) == sform_code
    assert nib.aff2axcodes(written.affine) == ("P", "S", "R")
    assert written.header.get_slope_inter() in ((1.0, 0.0), (None, None))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_large_label_values_use_uint16(tmp_path):
    image = _scan(tmp_path)
    labels = np.zeros(image.shape, np.int32)
    labels[0, 0, 0] = 300
    out = save_labels(labels, like=image, path=tmp_path / "seg.nii")
    assert nib.load(out).get_data_dtype() == np.uint16
    assert nib.load(out).get_fdata()[0, 0, 0] == 300


def test_labels_from_an_array_source_and_an_inverse_transform(tmp_path):
    image = Image(np.zeros((5, 6, 7), np.float32), np.diag([-0.7, 0.8, 3.0, 1.0]))
    grid = GridTransform.to_model(image, MR_MODEL_AXES, (0.5, 0.5, 1.0))
    labels = np.ones(grid.target_shape, np.uint8)
    out = save_labels(grid.inverse(labels), like=image, path=tmp_path / "seg.nii.gz")
    written = nib.load(out)
    assert written.shape == image.shape
    assert np.allclose(written.affine, image.affine)
    assert int(written.header["sform_code"]) == 2


def test_dicom_like_gets_scanner_codes(tmp_path):
    image = Image(np.zeros((3, 3, 3), np.int16), np.diag([-1.0, -1.0, 2.0, 1.0]), meta={"format": "dicom"})
    written = nib.load(save_labels(np.zeros((3, 3, 3), np.uint8), like=image, path=tmp_path / "seg.nii.gz"))
    assert int(written.header["qform_code"]) == 1 and int(written.header["sform_code"]) == 1


def test_refuses_to_overwrite_the_input(tmp_path):
    image = _scan(tmp_path)
    before = (tmp_path / "scan.nii.gz").read_bytes()
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        save_labels(np.zeros(image.shape, np.uint8), like=image, path=tmp_path / "sub" / ".." / "scan.nii.gz")
    with pytest.raises(InputError, match="refusing to overwrite the input"):
        save_image(image, tmp_path / "scan.nii.gz")
    assert (tmp_path / "scan.nii.gz").read_bytes() == before


def test_refuses_to_write_into_a_dicom_source_folder(tmp_path):
    (tmp_path / "series").mkdir()
    image = Image(np.zeros((3, 3, 3), np.int16), np.eye(4), source=tmp_path / "series", meta={"format": "dicom"})
    with pytest.raises(InputError, match="DICOM series folder"):
        save_labels(np.zeros((3, 3, 3), np.uint8), like=image, path=tmp_path / "series" / "seg.nii.gz")


def test_replaces_an_existing_output_atomically(tmp_path, monkeypatch):
    image = _scan(tmp_path)
    target = tmp_path / "seg.nii.gz"
    save_labels(np.ones(image.shape, np.uint8), like=image, path=target)
    before = target.read_bytes()

    def failing_save(nifti, filename):
        with open(filename, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(write_module.nib, "save", failing_save)
    from spine_rt.atomic_write import OutputError

    with pytest.raises(OutputError, match="seg.nii.gz: cannot write: disk full"):  # one line, exit 2 on the CLI
        save_labels(np.zeros(image.shape, np.uint8), like=image, path=target)
    assert target.read_bytes() == before  # the old output is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nii.gz", "seg.nii.gz"]  # no temporary left


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((6, 7, 9), np.uint8), "do not match"),
        (np.zeros((6, 7, 8), np.float32), "must be integers"),
        (np.full((6, 7, 8), -1, np.int16), "0..65535"),
        (np.full((6, 7, 8), 70000, np.int32), "0..65535"),
    ],
)
def test_bad_labels(tmp_path, labels, message):
    image = _scan(tmp_path)
    with pytest.raises(InputError, match=message):
        save_labels(labels, like=image, path=tmp_path / "seg.nii.gz")


@pytest.mark.parametrize(("name", "message"), [("seg.png", "must end in .nii"), ("nowhere/seg.nii.gz", "does not exist")])
def test_bad_destinations(tmp_path, name, message):
    image = _scan(tmp_path)
    with pytest.raises(InputError, match=message):
        save_labels(np.zeros(image.shape, np.uint8), like=image, path=tmp_path / name)


def test_save_image_writes_float32_in_the_geometry_of_like(tmp_path):
    image = _scan(tmp_path)
    probability = Image(np.full(image.shape, 0.25, np.float64), image.affine)
    out = save_image(probability, tmp_path / "prob.nii.gz", like=image)
    written = nib.load(out)
    assert written.get_data_dtype() == np.float32
    assert np.allclose(written.get_fdata(), 0.25)
    assert np.allclose(written.affine, image.affine)
    assert int(written.header["qform_code"]) == 2 and int(written.header["sform_code"]) == 1


def test_real_cervical_labels_keep_the_header_geometry(shared_data, tmp_path):
    image = read_image(shared_data / "nifti" / "sct_t2_cervical.nii.gz")
    cord = read_image(shared_data / "nifti" / "sct_t2_cervical_cordseg.nii.gz")
    out = save_labels(cord.array, like=image, path=tmp_path / "cord.nii.gz")
    written = nib.load(out)
    assert np.array_equal(np.asanyarray(written.dataobj), cord.array)
    assert np.allclose(written.affine, image.affine, atol=1e-6)
    assert np.allclose(written.header.get_qform(), image.header.get_qform(), atol=1e-6)
    assert np.allclose(written.header.get_sform(), image.header.get_sform(), atol=1e-6)
    assert (int(written.header["qform_code"]), int(written.header["sform_code"])) == (2, 1)
