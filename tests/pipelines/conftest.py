"""Fixtures of the pipeline tests; the fakes live in ``pipeline_fakes``."""

from __future__ import annotations

import pytest
from pipeline_fakes import ipr_affine, model_grid_volume

from spine_rt.io import Image


@pytest.fixture
def ipr_image() -> Image:
    """A 128 x 256 x 12 volume already on the model grid."""
    return Image(model_grid_volume(), ipr_affine())


@pytest.fixture(scope="session")
def tiny_package(tiny_sshsnet_package):
    """A tiny SSHSNet package with seeded random weights (the session's shared one, needs torch)."""
    return tiny_sshsnet_package
