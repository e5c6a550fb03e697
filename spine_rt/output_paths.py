"""Checking output paths before any work: a bad name fails in the first second, not after inference.

:func:`check_output_file` and :func:`check_output_folder` are the one
validation step every command runs on each of its outputs before it reads a
scan or loads a model; :func:`check_distinct` refuses two outputs with one
name. What they cannot know in advance (a disk that fills up, another run
that publishes the same name first) is caught when publishing
(:mod:`spine_rt.atomic_write`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from spine_rt.errors import InputError


def _writable_folder(folder: Path, what: str) -> None:
    if not folder.exists():
        raise InputError(f"{folder}: the folder for the {what} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: the folder for the {what} is a file")
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(folder) else "permission denied"
        raise InputError(f"{folder}: cannot write the {what} there: {reason}")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _refuse_inputs(path: Path, inputs: Iterable[Path], what: str) -> None:
    target = path.resolve()
    for source in inputs:
        original = Path(source).resolve()
        if target == original or (path.exists() and original.exists() and os.path.samefile(path, original)):
            raise InputError(f"{path}: the {what} is the input; refusing to overwrite the input")
        if original.is_dir() and original in target.parents:
            raise InputError(f"{path}: refusing to write the {what} into the input folder {source}")


def check_output_file(path: str | os.PathLike, what: str, suffixes: Sequence[str], overwrite: bool,
                      inputs: Iterable[str | os.PathLike] = (), create_parent: bool = False) -> Path:
    """Refuse an output file that cannot be written, before any work.

    Args:
        path: the file to be written.
        what: what it is, for the message (``"output"``, ``"--report"``).
        suffixes: the endings allowed (lower case, e.g. ``(".nii", ".nii.gz")``); empty: any.
        overwrite: an existing file may be replaced.
        inputs: files or folders that must not be written (the scan, a DICOM folder).
        create_parent: the parent folder is created when missing (else refused).

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        InputError: wrong ending, a folder in the way, an existing file
            without ``overwrite``, an input, a missing or unwritable folder.
    """
    target = Path(path)
    if suffixes and not any(target.name.lower().endswith(s) for s in suffixes):
        raise InputError(f"{target}: the {what} must end in {' or '.join(suffixes)}")
    _refuse_inputs(target, [Path(p) for p in inputs], what)
    if target.is_dir():
        raise InputError(f"{target}: the {what} names a folder; give a file name")
    if target.exists() and not overwrite:
        raise InputError(f"{target} exists; pass --overwrite to replace it")
    folder = target.parent
    if create_parent and not folder.exists():
        existing = next((p for p in folder.parents if p.exists()), Path("/"))
        if not existing.is_dir():
            raise InputError(f"{existing}: the folder for the {what} is a file")
        _writable_folder(existing, what)
        return target
    _writable_folder(folder, what)
    return target


def check_output_folder(path: str | os.PathLike, what: str, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Refuse an output folder that cannot be created or written, before any work.

    A missing folder is fine when its nearest existing parent is a writable folder.

    Raises:
        InputError: a file in the way, an input, an unwritable folder.
    """
    folder = Path(path)
    _refuse_inputs(folder, [Path(p) for p in inputs], what)
    if folder.exists():
        if not folder.is_dir():
            raise InputError(f"{folder}: the {what} must be a folder, and this is a file")
        _writable_folder(folder, what)
        return folder
    existing = next((p for p in folder.parents if p.exists()), Path("/"))
    if not existing.is_dir():
        raise InputError(f"{existing}: cannot create the {what} {folder}: {existing} is a file")
    _writable_folder(existing, what)
    return folder


def check_distinct(paths: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Refuse two outputs that name the same file (``(what, path)`` pairs; None is skipped)."""
    seen: dict[Path, str] = {}
    for what, path in paths:
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise InputError(f"{path}: named as both the {seen[key]} and the {what}")
        seen[key] = what
