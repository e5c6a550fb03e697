"""Fixtures of the benchmark-harness tests: one small random-init SSHSNet package per session."""

from __future__ import annotations

import pytest

@pytest.fixture(scope="session")
def small_package(tiny_sshsnet_package):
    """A tiny SSHSNet package with small patches and seeded random weights (the session's shared one)."""
    return tiny_sshsnet_package.root
