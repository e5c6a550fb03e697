"""Benchmark scans: shape parsing and phantoms of exactly the requested size."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.bench.bench_input import parse_shape, shaped_input
from spine_rt.errors import InputError


def test_parse_shape():
    assert parse_shape("12,512,1024") == (12, 512, 1024)
    assert parse_shape("12x64x128") == (12, 64, 128)


@pytest.mark.parametrize("text", ["12,64", "a,b,c", "12,8,128", "0,64,64", "12,64,128,4", "1000,1000,1000"])
def test_bad_shapes(text):
    with pytest.raises(InputError, match="--shape"):
        parse_shape(text)


def test_shaped_input_has_exactly_the_shape_and_no_zero_voxel():
    scan = shaped_input((12, 64, 128), seed=1)
    assert scan.shape == (12, 64, 128)
    assert scan.image.dtype == np.float32
    assert np.all(scan.image > 0)  # the pipeline's crop to the non-zero extent keeps everything
    spacing = np.linalg.norm(scan.affine[:3, :3], axis=0)
    np.testing.assert_allclose(spacing, (4.4, 0.3448, 0.3448))
    assert scan.describe()["voxels"] == 12 * 64 * 128
