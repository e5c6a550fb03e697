"""Fixtures of the benchmark-harness tests: one small random-init SSHSNet package per session."""

from __future__ import annotations

import pytest

#: spatial patch sizes of the small test package (stage one at half resolution)
SMALL_PACKAGE_PATCHES = {"stage1": (64, 128), "stage2": (64, 64, 12)}


@pytest.fixture(scope="session")
def small_package(tmp_path_factory):
    """A tiny SSHSNet package with small patches and seeded random weights (needs torch)."""
    pytest.importorskip("torch")
    from spine_rt.export import export_package

    out = tmp_path_factory.mktemp("bench_packages") / "sshsnet_small"
    package = export_package("sshsnet", out=out, preset="tiny", random_init=True, seed=5,
                             patch_sizes=SMALL_PACKAGE_PATCHES, precisions=["fp32"])
    return package.root
