"""Atomic file and folder writes: a reader sees the old content or the new one, never half of it.

Files are written to a temporary name in the same folder, flushed to disk and
renamed over the target (``os.replace`` is atomic on POSIX and Windows within
one file system). Folders are filled under a temporary name and renamed into
place; replacing an existing folder takes two renames (old away, new in), so
a reader may briefly find no folder, but never a partial one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created).

    Returns:
        The path written.

    Raises:
        OSError: the folder is not writable or the disk is full; the target is
            then unchanged and no temporary file is left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def new_temporary_folder(parent: Path, label: str) -> Path:
    """An empty, uniquely named folder ``parent/.tmp-<label>-<random>`` to fill before :func:`move_folder_into_place`."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f".tmp-{label}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def move_folder_into_place(filled: Path, target: Path) -> None:
    """Rename the folder ``filled`` to ``target``, replacing an existing ``target``.

    Both must be on the same file system (use :func:`new_temporary_folder`
    with ``target.parent``). An existing ``target`` is first renamed aside and
    deleted only after the new folder is in place.

    Raises:
        OSError: a rename failed; ``filled`` is then deleted and ``target`` is
            left as it was (restored if it had been moved aside).
    """
    aside: Path | None = None
    try:
        if target.exists():
            aside = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
            os.rename(target, aside)
        os.rename(filled, target)
    except BaseException:
        if aside is not None and not target.exists():
            os.rename(aside, target)
            aside = None
        shutil.rmtree(filled, ignore_errors=True)
        raise
    finally:
        if aside is not None and aside.exists():
            shutil.rmtree(aside, ignore_errors=True)
