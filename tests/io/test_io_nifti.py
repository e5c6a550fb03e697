"""Reading NIfTI: what comes back, and one clear InputError for each kind of bad file."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.io import read_image, read_nifti


def _save(path, array, affine=None):
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)
    return path


def test_reads_voxels_affine_and_header(tmp_path):
    affine = np.diag([0.5, 0.6, 3.0, 1.0])
    affine[:3, 3] = (1, 2, 3)
    array = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    image = read_image(_save(tmp_path / "scan.nii.gz", array, affine))
    assert np.array_equal(image.array, array) and image.array.dtype == np.int16
    assert np.allclose(image.affine, affine)
    assert image.spacing == pytest.approx((0.5, 0.6, 3.0))
    assert image.source == tmp_path / "scan.nii.gz"
    assert isinstance(image.header, nib.Nifti1Header)
    assert image.meta["format"] == "nifti"


def test_uncompressed_and_nifti2(tmp_path):
    array = np.ones((2, 3, 4), np.float32)
    assert read_nifti(_save(tmp_path / "a.nii", array)).shape == (2, 3, 4)
    nib.save(nib.Nifti2Image(array, np.eye(4)), tmp_path / "b.nii.gz")
    assert read_image(tmp_path / "b.nii.gz").shape == (2, 3, 4)


def test_scaling_is_applied(tmp_path):
    nifti = nib.Nifti1Image(np.full((2, 2, 2), 10, np.int16), np.eye(4))
    nifti.header.set_slope_inter(0.5, -1.0)
    nib.save(nifti, tmp_path / "scaled.nii.gz")
    assert np.allclose(read_image(tmp_path / "scaled.nii.gz").array, 4.0)


def test_single_volume_4d_is_squeezed(tmp_path):
    image = read_image(_save(tmp_path / "v.nii.gz", np.zeros((3, 4, 5, 1), np.float32)))
    assert image.shape == (3, 4, 5)


def _text_nii_gz(tmp_path):
    path = tmp_path / "notes.nii.gz"
    path.write_text("this is not an image\n")
    return path


def _text_nii(tmp_path):
    path = tmp_path / "notes.nii"
    path.write_text("this is not an image\n" * 30)
    return path


def _truncated_gzip(tmp_path):
    full = _save(tmp_path / "full.nii.gz", np.random.default_rng(0).random((20, 20, 20)).astype(np.float32))
    data = full.read_bytes()
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_nii(tmp_path):
    full = _save(tmp_path / "full.nii", np.zeros((20, 20, 20), np.float32))
    path = tmp_path / "truncated.nii"
    path.write_bytes(full.read_bytes()[:5000])
    return path


def _gzip_of_garbage(tmp_path):
    path = tmp_path / "garbage.nii.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100))
    return path


def _empty(tmp_path):
    return _save(tmp_path / "empty.nii.gz", np.zeros((0, 4, 4), np.float32))


def _flat(tmp_path):
    return _save(tmp_path / "flat.nii.gz", np.zeros((4, 4), np.float32))


def _two_volumes(tmp_path):
    return _save(tmp_path / "two.nii.gz", np.zeros((4, 4, 4, 2), np.float32))


def _nan(tmp_path):
    array = np.zeros((4, 4, 4), np.float32)
    array[1, 2, 3] = np.nan
    return _save(tmp_path / "nan.nii.gz", array)


def _inf(tmp_path):
    array = np.zeros((4, 4, 4), np.float32)
    array[0, 0, 0] = -np.inf
    return _save(tmp_path / "inf.nii", array)


def _singular(tmp_path):
    header = nib.Nifti1Header()
    header.set_data_shape((4, 4, 4))
    header.set_data_dtype(np.float32)
    header.set_sform(np.diag([0.0, 1.0, 1.0, 1.0]), code=1)
    header["qform_code"] = 0
    path = tmp_path / "singular.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), None, header), path)
    return path


def _missing(tmp_path):
    return tmp_path / "missing.nii.gz"


def _other_format(tmp_path):
    path = tmp_path / "scan.mha"
    path.write_text("ObjectType = Image\n")
    return path


BAD_FILES = {
    "missing file": (_missing, "no such file"),
    "text named .nii.gz": (_text_nii_gz, "not a readable NIfTI image"),
    "text named .nii": (_text_nii, "not a readable NIfTI image"),
    "gzip of garbage": (_gzip_of_garbage, "not a readable NIfTI image"),
    "truncated gzip": (_truncated_gzip, "truncated or corrupt"),
    "truncated .nii": (_truncated_nii, "truncated or corrupt"),
    "empty array": (_empty, "empty"),
    "2D": (_flat, "2D"),
    "4D with two volumes": (_two_volumes, "has 2 volumes"),
    "NaN voxel": (_nan, "NaN or infinite"),
    "Inf voxel": (_inf, "NaN or infinite"),
    "singular affine": (_singular, "singular"),
    "unsupported format": (_other_format, "unsupported input"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_raise_one_line_input_errors(tmp_path, case):
    make, message = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as caught:
        read_image(path)
    text = str(caught.value)
    assert "\n" not in text
    assert path.name in text
    assert isinstance(caught.value, ValueError) and caught.value.exit_code == 2


def test_real_cervical_header_is_kept(shared_data):
    image = read_image(shared_data / "nifti" / "sct_t2_cervical.nii.gz")
    assert image.shape == (60, 55, 52)
    assert image.meta["qform_code"] == 2 and image.meta["sform_code"] == 1
    assert np.allclose(image.affine, image.header.get_best_affine())
