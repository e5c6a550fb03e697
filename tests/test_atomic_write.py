"""Atomic file writes: the target holds the old or the new bytes, never a partial file."""

from __future__ import annotations

import pytest

from spine_rt import atomic_write
from spine_rt.atomic_write import move_folder_into_place, new_temporary_folder, write_bytes_atomic


def test_write_creates_and_replaces(tmp_path):
    target = tmp_path / "sub" / "cache.bin"
    write_bytes_atomic(target, b"one")
    write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["cache.bin"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "cache.bin"
    target.write_bytes(b"old")

    def failing_replace(source, destination):
        raise OSError("no space left")

    monkeypatch.setattr(atomic_write.os, "replace", failing_replace)
    with pytest.raises(atomic_write.OutputError, match="cache.bin: cannot write: no space left"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.bin"]


def test_folder_moves_into_place_and_replaces(tmp_path):
    target = tmp_path / "engine"
    for content in (b"first", b"second"):
        filled = new_temporary_folder(tmp_path, "engine")
        (filled / "plan").write_bytes(content)
        move_folder_into_place(filled, target)
    assert (target / "plan").read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["engine"]
