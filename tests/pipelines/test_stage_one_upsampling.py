"""Stage one's maps on stage two's grids the SSHSNet authors' way: softmax x2 nearest, decoder maps x2
bilinear with align_corners=True over the whole map, cropped to a patch (``StageOneMaps(upsampling="authors")``)."""

from __future__ import annotations

import numpy as np
import pytest

from spine_rt.errors import InputError
from spine_rt.pipelines.spine_mr.preprocessing import MrPreprocessing
from spine_rt.pipelines.schedules.maps import StageOneMaps


@pytest.mark.torch
@pytest.mark.parametrize("start", [(0, 0, 0), (8, 4, 1), (16, 8, 2)])
def test_authors_upsampling_is_interpolate_of_the_whole_map_cropped(start):
    torch = pytest.importorskip("torch")
    from torch.nn import functional as F

    rng = np.random.default_rng(1)
    probabilities = rng.random((5, 16, 8, 4), dtype=np.float32)  # stride 2 of a 32 x 16 window
    features = rng.random((6, 4, 2, 4), dtype=np.float32)  # stride 8
    maps = StageOneMaps(probabilities, features, 2, 8, upsampling="authors")
    size = (16, 8, 2)
    slices = slice(start[2], start[2] + size[2])

    def slices_first(array):
        return torch.from_numpy(array).permute(3, 0, 1, 2)

    nearest = F.interpolate(slices_first(probabilities), scale_factor=2, mode="nearest").permute(1, 2, 3, 0).numpy()
    bilinear = F.interpolate(slices_first(features), scale_factor=2, mode="bilinear",
                             align_corners=True).permute(1, 2, 3, 0).numpy()
    expected_p = nearest[:, start[0]:start[0] + size[0], start[1]:start[1] + size[1], slices]
    expected_f = bilinear[:, start[0] // 4:(start[0] + size[0]) // 4, start[1] // 4:(start[1] + size[1]) // 4, slices]
    np.testing.assert_array_equal(maps.patch_probabilities(start, size), expected_p)
    np.testing.assert_allclose(maps.patch_features(start, size), expected_f, rtol=0, atol=1e-6)
    # spine-rt's own (linear between voxel centres) differs: the mode is not ignored
    linear = StageOneMaps(probabilities, features, 2, 8)
    assert not np.allclose(linear.patch_features(start, size), expected_f, atol=1e-3)


def test_the_upsampling_mode_comes_from_the_manifest_and_is_validated():
    assert MrPreprocessing.from_manifest({}).stage_one_upsampling == "linear"
    assert MrPreprocessing.from_manifest({"stage_one_upsampling": "authors"}).stage_one_upsampling == "authors"
    with pytest.raises(InputError, match="valid: linear, authors"):
        MrPreprocessing.from_manifest({"stage_one_upsampling": "cubic"})
    with pytest.raises(InputError, match="unknown stage-one upsampling"):
        StageOneMaps(np.zeros((1, 2, 2, 1), np.float32), np.zeros((1, 1, 1, 1), np.float32), 2, 8, upsampling="x")
