"""Where ``spine-rt infer`` finds a model when no ``--model`` is given: the bundled demo package.

The demo package is package data of spine-rt, the folder ``spine_rt/demo_model/``
holding a ``manifest.json`` (found with :mod:`importlib.resources`, so it
works wherever spine-rt is installed, as long as it is installed as files
rather than inside a zip).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from spine_rt.errors import InputError

#: the demo package's folder inside the ``spine_rt`` package
DEMO_MODEL_RESOURCE = "demo_model"
MANIFEST_NAME = "manifest.json"
#: the name that stands for the bundled package wherever a package path is taken (``--model demo``)
DEMO_MODEL_NAME = "demo"


def default_package_path() -> Path:
    """The bundled demo model package's folder.

    Raises:
        InputError: no demo package is installed (exit code 2 from the command line).
    """
    folder = resources.files("spine_rt").joinpath(DEMO_MODEL_RESOURCE)
    if isinstance(folder, Path) and folder.is_dir() and (folder / MANIFEST_NAME).is_file():
        return folder
    raise InputError("no --model given and no bundled demo model is installed; pass --model PKG")


def resolve_package(package: str | os.PathLike | None) -> str | os.PathLike:
    """``package``, or the bundled demo package for ``None`` or the name :data:`DEMO_MODEL_NAME`.

    Raises:
        InputError: the bundled package was asked for and is not installed.
    """
    if package is None or (isinstance(package, str) and package == DEMO_MODEL_NAME):
        return default_package_path()
    return package
