"""Fixtures of the engine tests: tiny model packages written with ``onnx.helper``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

from tiny_engine_package import write_tiny_package  # noqa: E402


@pytest.fixture
def tiny_package(tmp_path) -> Path:
    """A package with stage1 and stage2, FP32 and FP16 graphs, fold 0."""
    return write_tiny_package(tmp_path / "pkg")


@pytest.fixture
def fp32_only_package(tmp_path) -> Path:
    """A package whose stages have only FP32 graphs."""
    return write_tiny_package(tmp_path / "pkg32", precisions=("fp32",))
