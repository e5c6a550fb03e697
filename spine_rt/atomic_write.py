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
from typing import Callable


def write_file_atomic(path: str | os.PathLike, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Let ``write(temporary_path)`` create the file, then rename it to ``path`` atomically.

    For writers that want a path rather than bytes (``nibabel.save``,
    ``torch.save``). ``suffix`` is the temporary file's ending, for writers
    that choose the format by it (``".nii.gz"``). Parent folders are created.

    Returns:
        The path written.

    Raises:
        OSError: the folder is not writable or the disk is full; whatever
            ``write`` raises. The target is then unchanged and no temporary
            file is left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_file_atomic`)."""
    return write_file_atomic(path, lambda temporary: temporary.write_bytes(data))


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
