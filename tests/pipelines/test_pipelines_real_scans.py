"""Real scans from ../shared/data through the tiny package: labels come back on each scan's own grid.

The scans are cropped first (a few cm around their centre) to keep the test
small; the crop keeps their orientation and spacing (the affine is shifted).
Skipped when the data or torch (for exporting the package) is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

import spine_rt
from spine_rt.io import Image, read_image

pytestmark = pytest.mark.torch

#: file, expected orientation, crop (start, stop) per voxel axis
SCANS = {
    "sct_t2_lumbar": ("nifti/sct_t2_lumbar.nii.gz", "RAS", ((9, 29), (96, 160), (70, 134))),
    "sct_t2_cervical": ("nifti/sct_t2_cervical.nii.gz", "PSR", ((6, 54), (4, 52), (16, 36))),
    "mr3d_vb3_01": ("mr3d/vb3_01_image.nii.gz", "IPR", ((80, 144), (70, 134), (28, 48))),
}


def cropped(image: Image, box) -> Image:
    """The voxels inside ``box``, placed where they were (affine shifted by the crop's start)."""
    start = np.array([a for a, _ in box], dtype=np.float64)
    array = image.array[tuple(slice(a, b) for a, b in box)]
    affine = image.affine.copy()
    affine[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    return Image(np.ascontiguousarray(array), affine, header=image.header)


@pytest.fixture(scope="module")
def pipeline(tiny_package):
    with spine_rt.load_pipeline(tiny_package.root, backend="onnxruntime", device="cpu") as pipe:
        yield pipe


@pytest.mark.parametrize("name", list(SCANS))
def test_real_scan_labels_lie_on_its_grid(shared_data, pipeline, name, tmp_path):
    relative, orientation, box = SCANS[name]
    full = read_image(shared_data / relative)
    assert "".join(full.orientation) == orientation
    image = cropped(full, box)
    assert "".join(image.orientation) == orientation
    result = pipeline(image)
    assert result.labels.shape == image.shape
    np.testing.assert_array_equal(result.affine, image.affine)
    assert result.report["input"]["orientation"] == orientation
    saved = read_image(result.save(tmp_path / f"{name}_seg.nii.gz"))
    assert saved.shape == image.shape and np.allclose(saved.affine, image.affine, atol=1e-4)
