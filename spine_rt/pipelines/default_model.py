"""Where ``spine-rt infer`` finds a model when no ``--model`` is given: the bundled demo packages.

Two demo packages are package data of spine-rt, each a folder holding a
``manifest.json`` (found with :mod:`importlib.resources`, so they work
wherever spine-rt is installed, as long as it is installed as files rather
than inside a zip): ``spine_rt/demo_model/`` (spine MR, a tiny SSHSNet; the
name ``"demo"``) and ``spine_rt/demo_xray_model/`` (lateral lumbar X-ray, a
tiny MBNet; the name ``"demo-xray"``). Both were trained on synthetic
phantoms only.
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
#: the bundled X-ray demo package's folder inside the ``spine_rt`` package
DEMO_XRAY_MODEL_RESOURCE = "demo_xray_model"
#: the name that stands for the bundled X-ray package (``--model demo-xray``, ``load_pipeline("demo-xray")``)
DEMO_XRAY_MODEL_NAME = "demo-xray"


def default_package_path() -> Path:
    """The bundled demo model package's folder.

    Raises:
        InputError: no demo package is installed (exit code 2 from the command line).
    """
    folder = resources.files("spine_rt").joinpath(DEMO_MODEL_RESOURCE)
    if isinstance(folder, Path) and folder.is_dir() and (folder / MANIFEST_NAME).is_file():
        return folder
    raise InputError("no --model given and no bundled demo model is installed; pass --model PKG")


def default_xray_package_path() -> Path:
    """The bundled X-ray demo model package's folder (a tiny MBNet).

    Raises:
        InputError: no X-ray demo package is installed (exit code 2 from the command line).
    """
    folder = resources.files("spine_rt").joinpath(DEMO_XRAY_MODEL_RESOURCE)
    if isinstance(folder, Path) and folder.is_dir() and (folder / MANIFEST_NAME).is_file():
        return folder
    raise InputError("no --model given and no bundled X-ray demo model is installed; pass --model PKG "
                     "(an X-ray package from `spine-rt export mbnet`)")


def bundled_package_paths() -> list[Path]:
    """The folders of the bundled demo packages that are installed (MR first)."""
    found = []
    for locate in (default_package_path, default_xray_package_path):
        try:
            found.append(locate())
        except InputError:
            pass
    return found


def resolve_package(package: str | os.PathLike | None, xray: bool = False) -> str | os.PathLike:
    """``package``, or a bundled demo package.

    ``None`` stands for the bundled MR package, or for the bundled X-ray
    package when ``xray`` (the input is an X-ray picture); the names
    :data:`DEMO_MODEL_NAME` and :data:`DEMO_XRAY_MODEL_NAME` stand for
    either package whatever the input.

    Raises:
        InputError: a bundled package was asked for and is not installed.
    """
    if (isinstance(package, str) and package == DEMO_XRAY_MODEL_NAME) or (package is None and xray):
        return default_xray_package_path()
    if package is None or (isinstance(package, str) and package == DEMO_MODEL_NAME):
        return default_package_path()
    return package
