"""Publishing outputs: every file spine-rt writes appears whole, with its siblings, or not at all.

One mechanism for every output of every command:

* **Owned temporary names.** A file is written to
  ``.<name>.spine-rt-tmp-<pid>-<random><suffix>`` in the target's folder
  (the suffix kept last, for writers that choose the format by it, such as
  ``.nii.gz``). The pid says whose it is: before writing into a folder,
  temporaries of processes that no longer run (killed with SIGKILL, a power
  cut) are removed (:func:`remove_stale_temporaries`).
* **Normal permissions.** Temporaries are created with mode ``0o666`` minus
  the user's umask, the mode any new file gets (``tempfile.mkstemp`` would
  give ``0o600``).
* **Together or not at all.** Inside ``with publishing(overwrite=...)``,
  every :func:`write_file_atomic` (and so :func:`spine_rt.io.save_labels`,
  the QC pictures, the reports) only *stages* its file; the files are
  renamed into place when the block ends without an error, and on any error
  (including Ctrl-C and SIGTERM) every staged file is removed and every
  target already published is undone (a replaced file is restored).
* **No clobbering.** Without ``overwrite`` a file is published with
  ``renameat2(RENAME_NOREPLACE)`` (Linux, via ctypes) or, where that is not
  available, ``link`` then ``unlink``: if another process created the target
  meanwhile, publishing fails (:class:`OutputExists`) instead of silently
  replacing its result.
* **One line for write faults.** An ``OSError`` while writing or publishing
  (read-only file system, disk full, permission denied, a folder in the
  way) becomes :class:`OutputError` naming the path and the reason (exit
  code 2 on the command line).

Folders (model packages, engines) are filled under an owned temporary name
(:func:`new_temporary_folder`) and renamed into place
(:func:`move_folder_into_place`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from spine_rt.errors import InputError

#: the mark of every temporary name spine-rt creates
TEMPORARY_MARK = ".spine-rt-tmp-"
#: the mark of a replaced file kept until its replacement is published
ASIDE_MARK = ".spine-rt-old-"
_OWNED = re.compile(r"\.spine-rt-(?:tmp|old)-(\d+)-[0-9a-f]{8}")
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


class OutputError(InputError):
    """An output could not be written or published (one line: the path and the reason; exit code 2)."""


class OutputExists(OutputError):
    """The target appeared while the outputs were being written, and ``overwrite`` was not given."""


def output_error(path: str | os.PathLike, error: OSError) -> OutputError:
    """``OutputError("<path>: cannot write: <reason>")`` for an ``OSError`` met while writing ``path``."""
    reason = error.strerror or str(error) or type(error).__name__
    return OutputError(f"{path}: cannot write: {reason}")


# ---------------------------------------------------------------- names and stale temporaries
def temporary_path(target: Path, suffix: str = ".tmp") -> Path:
    """An owned temporary name beside ``target`` (not created)."""
    return target.parent / f".{target.name}{TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"


def owner_pid(name: str) -> int | None:
    """The pid in an owned temporary or aside name, or None for any other name."""
    found = _OWNED.search(name) if name.startswith(".") else None
    return int(found.group(1)) if found else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


_cleaned: set[str] = set()
#: this process's temporaries not yet published or removed (what a SIGTERM handler removes before exiting)
_live: set[Path] = set()
_critical = [0]
_deferred: list[Callable[[], None]] = []


def remove_own_temporaries() -> None:
    """Remove every temporary file or folder this process created and has not published (signal handlers)."""
    for path in list(_live):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        _live.discard(path)


def defer_while_publishing(action: Callable[[], None]) -> bool:
    """Run ``action`` once the renames of the current publication are done; False when none is running.

    A signal handler uses it so that a set of outputs is never left half renamed.
    """
    if _critical[0] == 0:
        return False
    _deferred.append(action)
    return True


@contextlib.contextmanager
def _renaming() -> Iterator[None]:
    _critical[0] += 1
    try:
        yield
    finally:
        _critical[0] -= 1
        if _critical[0] == 0 and _deferred:
            _deferred.pop()()


def remove_stale_temporaries(folder: str | os.PathLike, force: bool = False) -> list[Path]:
    """Remove the temporaries (files or folders) in ``folder`` whose owning process no longer runs.

    Done once per folder and process unless ``force``. A stale aside copy
    (``.spine-rt-old-``) is put back when its target is missing, else removed.

    Returns:
        the paths removed or restored.
    """
    root = Path(folder)
    key = str(root.resolve()) if root.exists() else str(root)
    if key in _cleaned and not force:
        return []
    _cleaned.add(key)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name)
        if pid is None or _alive(pid):
            continue
        path = Path(entry.path)
        try:
            if ASIDE_MARK in entry.name:
                original = root / entry.name[1:entry.name.index(ASIDE_MARK)]
                if not original.exists():
                    os.rename(path, original)
                    removed.append(path)
                    continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except OSError:
            continue
    return removed


# ---------------------------------------------------------------- publishing one file
def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` atomically unless ``target`` exists.

    ``renameat2(RENAME_NOREPLACE)`` where the kernel and file system have it,
    else ``link`` + ``unlink`` (the same guarantee: ``link`` fails on an
    existing name), else (no hard links, e.g. some network file systems) a
    check then ``rename``, which can race.

    Raises:
        FileExistsError: ``target`` exists.
        OSError: any other failure; ``source`` is then left as it was.
    """
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(target))
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)


def _create_temporary(target: Path, suffix: str) -> Path:
    """Create an empty owned temporary beside ``target`` with the umask's permissions."""
    remove_stale_temporaries(target.parent)
    temporary = temporary_path(target, suffix)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    _live.add(temporary)
    os.close(handle)
    return temporary


def _fsync(path: Path) -> None:
    with open(path, "rb+") as written:
        os.fsync(written.fileno())


# ---------------------------------------------------------------- a set of outputs published together
class Publication:
    """Outputs staged under owned temporary names, then published together or not at all.

    Use :func:`publishing` rather than this class directly.
    """

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.staged: list[tuple[Path, Path]] = []  # (temporary, target)

    def stage(self, target: Path, write: Callable[[Path], None], suffix: str) -> Path:
        """Write ``target``'s content to a temporary now; it is renamed into place by :meth:`publish`."""
        if any(target == planned for _, planned in self.staged):
            raise OutputError(f"{target}: named twice among the outputs")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = _create_temporary(target, suffix)
        self.staged.append((temporary, target))
        write(temporary)
        _fsync(temporary)
        return target

    def discard(self) -> None:
        """Remove every staged temporary."""
        for temporary, _ in self.staged:
            with contextlib.suppress(OSError):
                if temporary.is_dir() and not temporary.is_symlink():
                    shutil.rmtree(temporary, ignore_errors=True)
                else:
                    temporary.unlink(missing_ok=True)
            _live.discard(temporary)
        self.staged.clear()

    def publish(self) -> list[Path]:
        """Rename every staged file into place; on a failure undo the ones already in place.

        Raises:
            OutputExists: a target exists and ``overwrite`` is off.
            OutputError: any other failure (the reason and the path in one line).
        """
        done: list[tuple[Path, Path | None]] = []  # (target, aside copy of the replaced file)
        failed: Path | None = None
        try:
            with _renaming():  # a SIGTERM now waits until every file of the set is in place (or undone)
                for temporary, target in self.staged:
                    failed = target
                    done.append((target, self._publish_one(temporary, target)))
                    _live.discard(temporary)
        except BaseException as error:
            for published, aside in reversed(done):
                with contextlib.suppress(OSError):
                    if aside is not None:
                        os.replace(aside, published)
                    else:
                        published.unlink(missing_ok=True)
            self.discard()
            if isinstance(error, FileExistsError):
                raise OutputExists(f"{failed} exists (written by another run meanwhile?); pass --overwrite "
                                   "to replace it") from None
            if isinstance(error, OSError):
                raise output_error(failed, error) from error
            raise
        for _, aside in done:
            if aside is not None:
                with contextlib.suppress(OSError):
                    aside.unlink()
        self.staged.clear()
        return [target for target, _ in done]

    def _publish_one(self, temporary: Path, target: Path) -> Path | None:
        if not self.overwrite:
            rename_no_replace(temporary, target)
            return None
        aside = None
        if target.is_file() and not target.is_symlink():
            aside = target.parent / f".{target.name}{ASIDE_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                os.link(target, aside)
            except OSError:
                aside = None  # no hard links here: replaced without a way back
        try:
            os.replace(temporary, target)
        except BaseException:
            if aside is not None:
                aside.unlink(missing_ok=True)
            raise
        return aside


_current: contextvars.ContextVar[Publication | None] = contextvars.ContextVar("spine_rt_publication", default=None)


@contextlib.contextmanager
def publishing(overwrite: bool = False) -> Iterator[Publication]:
    """Stage every :func:`write_file_atomic` inside the block; publish them all at its end, or none.

    Args:
        overwrite: replace existing targets; without it a target that exists
            at publishing time fails the whole set (:class:`OutputExists`).

    Inside an enclosing :func:`publishing` block the files join its set (and
    its ``overwrite``): they are published with the enclosing block's, or not
    at all.

    Raises:
        OutputError: a write or the publishing failed (nothing of the set is left).
    """
    enclosing = _current.get()
    if enclosing is not None:
        yield enclosing
        return
    publication = Publication(overwrite)
    token = _current.set(publication)
    try:
        yield publication
    except BaseException:
        _current.reset(token)
        publication.discard()
        raise
    _current.reset(token)
    publication.publish()


def write_file_atomic(path: str | os.PathLike, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Let ``write(temporary_path)`` create the file, then publish it as ``path``.

    For writers that want a path rather than bytes (``nibabel.save``,
    ``torch.save``). ``suffix`` is the temporary's ending, for writers that
    choose the format by it (``".nii.gz"``). Parent folders are created.
    Inside :func:`publishing` the file is only staged (published with the
    others at the block's end); outside, it is published at once, replacing
    an existing ``path``.

    Returns:
        The target path.

    Raises:
        OutputError: the folder is not writable, the disk is full, a folder is
            in the way (the path and the reason in one line). The target is
            then unchanged and no temporary file is left behind.
        whatever ``write`` raises otherwise (same guarantee).
    """
    target = Path(path)
    publication = _current.get()
    if publication is not None:
        try:
            return publication.stage(target, write, suffix)
        except OSError as error:
            raise output_error(target, error) from error
    single = Publication(overwrite=True)
    try:
        single.stage(target, write, suffix)
    except BaseException as error:
        single.discard()
        if isinstance(error, OSError):
            raise output_error(target, error) from error
        raise
    single.publish()
    return target


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_file_atomic`)."""
    return write_file_atomic(path, lambda temporary: temporary.write_bytes(data))


# ---------------------------------------------------------------- folders
def new_temporary_folder(parent: Path, label: str) -> Path:
    """An empty owned folder ``parent/.<label>.spine-rt-tmp-<pid>-<random>`` to fill before :func:`move_folder_into_place`."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(parent)
    folder = temporary_path(parent / label, "")
    folder.mkdir()
    _live.add(folder)
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
            aside = target.parent / f".{target.name}{ASIDE_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(target, aside)
        os.rename(filled, target)
        _live.discard(filled)
    except BaseException:
        if aside is not None and not target.exists():
            os.rename(aside, target)
            aside = None
        shutil.rmtree(filled, ignore_errors=True)
        raise
    finally:
        if aside is not None and aside.exists():
            shutil.rmtree(aside, ignore_errors=True)
