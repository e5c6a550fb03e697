"""Round trips on the real scans of ../shared/data (skipped when absent).

Bounds tested for a label map sent to the model grid (nearest) and back:

* model grid finer than the input on every axis: the label map comes back
  exactly;
* coarser (up to 2 mm, and the SSHSNet 0.69 x 0.69 x 4.4 mm grid): a voxel
  can change only where the input labels are not constant within
  ``floor((r + 1) / 2)`` voxels along each axis (``r`` = model spacing /
  input spacing), i.e. only at structure boundaries; and at most 1 % of all
  voxels change (measured: at most 0.6 % on these scans).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from spine_rt.io import MR_MODEL_AXES, GridTransform, Image, read_image
from spine_rt.io.dicom import decoder_is_available

#: stage-one grid of SSHSNet (0.3448 mm in-plane at half resolution, 4.4 mm between sagittal slices)
SSHSNET_STAGE_ONE_SPACING = (0.6897, 0.6897, 4.4)

SCANS = {
    "sct_t2_lumbar": ("nifti/sct_t2_lumbar.nii.gz", ("R", "A", "S")),
    "sct_t2_cervical": ("nifti/sct_t2_cervical.nii.gz", ("P", "S", "R")),
    "mr3d_vb3_01": ("mr3d/vb3_01_image.nii.gz", ("I", "P", "R")),
    "dicom_ts_example_ct": ("dicom/ts_example_ct", ("L", "P", "S")),
}
LABELS = [
    "mr3d/vb3_01_label.nii.gz",
    "mr3d/ivd_11_label.nii.gz",
    "mr3d/vb1_02_label.nii.gz",
    "nifti/sct_t2_cervical_cordseg.nii.gz",
]
COARSER = [(1.25, 1.25, 1.5), SSHSNET_STAGE_ONE_SPACING, (2.0, 2.0, 2.0)]

_cache: dict[str, Image] = {}


def _read(shared_data, relative: str) -> Image:
    if relative.startswith("dicom/") and not decoder_is_available("1.2.840.10008.1.2.4.90"):
        pytest.skip("no JPEG 2000 decoder installed (pip install pylibjpeg pylibjpeg-openjpeg)")
    if relative not in _cache:
        _cache[relative] = read_image(shared_data / relative)
    return _cache[relative]


@pytest.mark.parametrize("name", SCANS)
def test_orientation_as_documented(shared_data, name):
    relative, codes = SCANS[name]
    assert _read(shared_data, relative).orientation == codes


@pytest.mark.parametrize("spacing", [SSHSNET_STAGE_ONE_SPACING, (0.8, 1.5, 3.0)])
@pytest.mark.parametrize("name", SCANS)
def test_to_model_grid_and_back_restores_the_input_geometry(shared_data, name, spacing):
    image = _read(shared_data, SCANS[name][0])
    grid = GridTransform.to_model(image, MR_MODEL_AXES, spacing)
    model = grid.forward(image)
    assert model.orientation == MR_MODEL_AXES
    assert model.spacing == pytest.approx(spacing)
    # voxel centres of the model grid sit where the index maps say, in the input's world
    expected = image.affine @ grid.reorientation.index_map() @ grid.resample.index_map()
    assert np.allclose(model.affine, expected, rtol=0, atol=1e-9)
    # a "segmentation" computed on the model grid
    labels = (model.array > np.percentile(model.array, 80)).astype(np.uint8)
    labels[model.array > np.percentile(model.array, 95)] = 2
    back = grid.inverse(labels)
    assert back.shape == image.shape
    assert np.array_equal(back.affine, image.affine)
    assert back.orientation == image.orientation
    assert back.array.dtype == np.uint8
    assert set(np.unique(back.array)) <= {0, 1, 2}


@pytest.mark.parametrize("name", SCANS)
def test_reorientation_alone_round_trips_exactly(shared_data, name):
    image = _read(shared_data, SCANS[name][0])
    grid = GridTransform.to_model(image, MR_MODEL_AXES)
    model = grid.forward(image, "nearest")
    assert model.orientation == MR_MODEL_AXES
    assert sorted(model.spacing) == pytest.approx(sorted(image.spacing))
    assert np.array_equal(grid.inverse(model.array).array, image.array)
    assert np.allclose(model.affine, image.affine @ grid.reorientation.index_map(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("relative", LABELS)
def test_labels_round_trip_exactly_through_a_finer_grid(shared_data, relative):
    labels = _read(shared_data, relative)
    grid = GridTransform.to_model(labels, MR_MODEL_AXES, (0.7, 0.7, 0.9))
    back = grid.inverse(grid.forward(labels, "nearest").array)
    assert np.array_equal(back.array, labels.array)


@pytest.mark.parametrize("spacing", COARSER)
@pytest.mark.parametrize("relative", LABELS)
def test_labels_through_a_coarser_grid_change_only_at_boundaries(shared_data, relative, spacing):
    labels = _read(shared_data, relative)
    grid = GridTransform.to_model(labels, MR_MODEL_AXES, spacing)
    back = grid.inverse(grid.forward(labels, "nearest").array).array
    assert back.shape == labels.shape and back.dtype == labels.array.dtype
    half_width = [0, 0, 0]
    for model_axis, source_axis in enumerate(grid.reorientation.permutation):
        half_width[source_axis] = math.floor((grid.resample.scale[model_axis] + 1) / 2)
    size = [2 * h + 1 for h in half_width]
    constant = ndimage.maximum_filter(labels.array, size=size) == ndimage.minimum_filter(labels.array, size=size)
    assert np.array_equal(back[constant], labels.array[constant])
    assert np.mean(back != labels.array) <= 0.01


def test_dicom_series_geometry_matches_its_headers(shared_data):
    import pydicom

    image = _read(shared_data, "dicom/ts_example_ct")
    assert image.shape == (512, 512, 20)
    assert image.spacing == pytest.approx((0.9765625, 0.9765625, 2.0))
    assert image.meta["modality"] == "CT"
    assert image.array.dtype == np.int16
    assert image.array.min() == -1024  # RescaleIntercept applied: air outside the field of view
    for k, filename in enumerate(image.meta["files"]):
        ds = pydicom.dcmread(filename, stop_before_pixels=True)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        assert np.allclose(image.affine @ [0, 0, k, 1], [-x, -y, z, 1])  # LPS -> RAS
    middle = pydicom.dcmread(image.meta["files"][5])
    expected = middle.pixel_array.astype(np.int32) * int(middle.RescaleSlope) + int(middle.RescaleIntercept)
    assert np.array_equal(image.array[:, :, 5], expected.T)  # array is (column, row, slice)
    # slices go up the body: instance numbers 286 .. 267 (positions -804.5 .. -766.5 mm)
    assert image.affine[2, 2] > 0
