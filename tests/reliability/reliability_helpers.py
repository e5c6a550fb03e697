"""What a clean failure looks like, and small file-system helpers, for the reliability tests."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from pathlib import Path

TEMPORARY_MARKS = (".spine-rt-tmp-", ".spine-rt-old-", ".partial-")


def tree_digest(*roots: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``roots`` (folders listed with their mode)."""
    digest: dict[str, str] = {}
    for root in roots:
        if root.is_file():
            digest[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                digest[str(path)] = "folder"
    return digest


def leftovers(*roots: Path) -> list[str]:
    """Temporary or partial files under ``roots``."""
    found = []
    for root in roots:
        if root.is_dir():
            found += [str(p) for p in root.rglob("*") if any(mark in p.name for mark in TEMPORARY_MARKS)]
    return found


def assert_clean_failure(code: int, expected: tuple[int, ...], stderr: str, before: dict[str, str],
                         after: dict[str, str], watched: list[Path]) -> None:
    """Exit code in ``expected``; one error line, no traceback; the watched tree unchanged; no leftovers."""
    assert code in expected, f"exit {code}, expected {expected}; stderr: {stderr!r}"
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("spine-rt"), lines
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"
    assert leftovers(*watched) == []


def fill_up(folder: Path) -> None:
    """Fill the file system of ``folder`` until no byte is left (ENOSPC)."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as stream:
        block = b"\0" * 4096
        while True:
            stream.write(block)
            stream.flush()
    with contextlib.suppress(OSError), open(folder / "filler-tail", "wb") as stream:
        while True:
            stream.write(b"\0")
            stream.flush()


def dead_pid() -> int:
    """The pid of a process that has already exited."""
    done = subprocess.run(["python3", "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)
