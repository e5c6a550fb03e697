"""Fixtures of the Triton tests: the tiny package's folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_package_root(tiny_sshsnet_package) -> Path:
    """The folder of the session's tiny SSHSNet package (tests must not modify it)."""
    return Path(tiny_sshsnet_package.root)
