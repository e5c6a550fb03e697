"""Write a model package atomically: stage it in a hidden folder beside ``--out``, then rename.

While an export runs, every file goes to an owned temporary folder
``.<name>.spine-rt-tmp-<pid>-XXXX`` (:func:`spine_rt.atomic_write.new_temporary_folder`;
stale ones of killed exports are removed by the next) in the destination's parent folder (same file system, so the final rename is
atomic). :meth:`PackageWriter.commit` hashes every file into the manifest,
re-opens the staged package with sha256 verification, and publishes it:

* no ``--out`` yet: one rename that fails if ``--out`` appeared meanwhile
  (:func:`spine_rt.atomic_write.rename_no_replace`);
* ``--overwrite`` of an existing package: the two folders are swapped with
  ``renameat2(RENAME_EXCHANGE)`` (Linux), so ``--out`` is at every moment
  either the complete old or the complete new package; where the exchange is
  unavailable, two renames leave a moment with no ``--out`` but never a
  partial one. The old package is then deleted.

On any error (or interrupt) :meth:`PackageWriter.discard` removes the staging
folder: a failed export leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from spine_rt.atomic_write import new_temporary_folder, output_error, rename_no_replace
from spine_rt.errors import InputError
from spine_rt.output_paths import check_output_folder
from spine_rt.model_package import MANIFEST_NAME, Manifest, ModelPackage, sha256_file

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def check_destination(out: Path, overwrite: bool) -> None:
    """Refuse a destination the export must not write.

    Raises:
        InputError: ``out`` exists without ``overwrite``; ``out`` is a file; a
            non-empty folder that is not a model package (never replaced); or
            its parent folder does not exist.
    """
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise InputError(f"{out} already exists; pass --overwrite to replace it")
        if not out.is_dir() or out.is_symlink():
            raise InputError(f"{out} exists and is not a folder; refusing to replace it")
        if any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
            raise InputError(f"{out} is a non-empty folder without {MANIFEST_NAME} (not a model package); "
                             "refusing to replace it")
    if not out.parent.is_dir():
        raise InputError(f"the folder for {out} does not exist: {out.parent}")
    check_output_folder(out, "package folder")


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0


class PackageWriter:
    """Staging folder for one package; use as a context manager (discards on error).

    Args:
        out: the package folder to create.
        overwrite: replace an existing package at ``out``.

    Raises:
        InputError: see :func:`check_destination`.
    """

    def __init__(self, out: str | os.PathLike[str], overwrite: bool = False) -> None:
        self.out = Path(out).absolute()
        self.overwrite = bool(overwrite)
        check_destination(self.out, self.overwrite)
        try:
            self.staging = new_temporary_folder(self.out.parent, self.out.name)  # mode 0o777 minus the umask
        except OSError as error:
            raise output_error(self.out, error) from error

    def __enter__(self) -> "PackageWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is not None:
            self.discard()

    def file(self, relative: str) -> Path:
        """Absolute staging path for ``relative`` (parent folders created)."""
        path = self.staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, manifest: Manifest) -> ModelPackage:
        """Hash every staged file into ``manifest.files``, write ``manifest.json``, verify, publish.

        Returns:
            The published package (opened with sha256 verification).

        Raises:
            InputError: ``out`` appeared meanwhile (without ``overwrite``).
        """
        files = {
            path.relative_to(self.staging).as_posix(): sha256_file(path)
            for path in sorted(self.staging.rglob("*"))
            if path.is_file() and path.name != MANIFEST_NAME
        }
        final = dataclasses.replace(manifest, files=files)
        (self.staging / MANIFEST_NAME).write_text(final.to_json())
        ModelPackage.open(self.staging, verify=True)
        try:
            self._publish()
        except FileExistsError:
            raise InputError(f"{self.out} appeared while exporting; pass --overwrite to replace it") from None
        except OSError as error:
            raise output_error(self.out, error) from error
        return ModelPackage.open(self.out, verify=False)

    def discard(self) -> None:
        """Remove the staging folder (idempotent)."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def _publish(self) -> None:
        if self.out.exists():
            if not self.overwrite:
                raise InputError(f"{self.out} appeared while exporting; pass --overwrite to replace it")
            if _exchange(self.staging, self.out):
                shutil.rmtree(self.staging, ignore_errors=True)  # now holds the old package
                return
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
            os.rename(self.out, old / "package")
            os.rename(self.staging, self.out)
            shutil.rmtree(old, ignore_errors=True)
            return
        rename_no_replace(self.staging, self.out)
