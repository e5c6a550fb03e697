"""Fixtures of the training tests: small phantom data sets and one torch thread.

The recipes run on tiny networks and coarse phantoms (3 mm in-plane) so that
every test takes seconds. torch uses one CPU thread during these tests: on
a machine shared with other jobs, OpenMP threads waiting for each other make
small convolutions many times slower.
"""

from __future__ import annotations

import pytest

#: coarse training grid of the tests (mm along S-I, A-P, slices)
TEST_SPACING = (3.0, 3.0, 4.4)


@pytest.fixture()
def one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def phantom_data():
    """3 phantoms (2 training, 1 validation) prepared for stage one and stage two (patch 32 x 32 x 12)."""
    from spine_rt.train.mr_data import load_mr_training_data

    return load_mr_training_data(phantoms=3, spacing=TEST_SPACING, minimum_shape=(32, 32, 12))
