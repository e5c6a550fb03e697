"""Fixtures of the pipeline tests; the fakes live in ``pipeline_fakes``."""

from __future__ import annotations

import pytest
from pipeline_fakes import ipr_affine, model_grid_volume

from spine_rt.io import Image


@pytest.fixture
def ipr_image() -> Image:
    """A 128 x 256 x 12 volume already on the model grid."""
    return Image(model_grid_volume(), ipr_affine())


#: spatial patch sizes of the tiny test package (stage one at half resolution)
TINY_PACKAGE_PATCHES = {"stage1": (64, 128), "stage2": (64, 64, 12)}


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory):
    """A tiny SSHSNet package with seeded random weights, exported once per session (needs torch)."""
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    out = tmp_path_factory.mktemp("packages") / "sshsnet_tiny"
    return export_package("sshsnet", out=out, preset="tiny", random_init=True, seed=3,
                          patch_sizes=TINY_PACKAGE_PATCHES, precisions=["fp32"])
