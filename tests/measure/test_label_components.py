"""One-pass connected pieces of every label: the same pieces as SciPy label by label, and bad label maps refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spine_rt.errors import InputError
from spine_rt.measure.label_components import label_components


@pytest.mark.parametrize("connectivity, structure", [(6, ndimage.generate_binary_structure(3, 1)),
                                                     (26, np.ones((3, 3, 3), bool))])
def test_pieces_sizes_centroids_and_boxes_match_scipy(connectivity, structure):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(5, 12, 9)).astype(np.int64)
    found = label_components(labels, connectivity)
    expected = []
    for label in (1, 2, 3):
        parts, count = ndimage.label(labels == label, structure=structure)
        boxes = ndimage.find_objects(parts)
        for part in range(1, count + 1):
            centre = np.argwhere(parts == part).mean(axis=0)
            expected.append((label, int((parts == part).sum()), tuple(np.round(centre, 9)), boxes[part - 1]))
    got = [(int(found.owner[p]), int(found.sizes[p]), tuple(np.round(found.centroids[p], 9)), found.box(p))
           for p in range(1, found.count + 1)]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert found.sizes[0] == np.count_nonzero(labels == 0)
    for piece in range(1, found.count + 1):  # every voxel of a piece carries its label
        assert np.all(labels[found.pieces == piece] == found.owner[piece])


def test_empty_and_bad_label_maps():
    empty = label_components(np.zeros((2, 3, 4), np.uint8))
    assert empty.count == 0 and empty.pieces.shape == (2, 3, 4) and not empty.pieces.any()
    with pytest.raises(InputError, match="3D"):
        label_components(np.zeros((3, 4), np.uint8))
    with pytest.raises(InputError, match="integer"):
        label_components(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(InputError, match="negative"):
        label_components(-np.ones((2, 3, 4), np.int16))
