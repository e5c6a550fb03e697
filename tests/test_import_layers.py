"""The import layers of the source tree, read with :mod:`ast` (no project module is imported).

**The run path** is the code that ``spine-rt infer``/``export``/``build-engine``/
``evaluate``/``serve`` and the public API run on a user's scans: every module of
``spine_rt/``, ``export/``, ``engines/`` and ``cli/`` (installed as
``spine_rt.export``, ``spine_rt.engines``, ``spine_rt.cli``) *except* the
off-path code, which draws phantoms or trains:

* ``spine_rt.train`` - the training recipes (``spine-rt train``);
* ``spine_rt.phantoms`` - synthetic scans for training, tests, the demo and the benchmarks;
* ``spine_rt.bench`` and ``spine_rt.demo`` - they feed phantoms to the run path;
* ``spine_rt.cli.train``, ``spine_rt.cli.demo``, ``spine_rt.cli.bench`` - the
  commands of those three.

Rules:

1. No run-path module imports an off-path module - neither at module level nor
   inside a function nor as a module name in a string (lazy-export tables,
   ``importlib.import_module``). The one exception is the command table
   ``spine_rt.cli.main``, which registers the off-path commands;
2. so that registering them costs nothing, the off-path commands import their
   off-path packages inside the command function only (``import spine_rt.cli.main``
   loads neither training nor phantoms);
3. :mod:`spine_rt.anatomy` (the domain facts) imports nothing of the project
   except itself and :mod:`spine_rt.errors` (the project's error classes,
   which itself imports nothing of the project), so anything may import it.

Relative imports are resolved against the installed package names; ``from
spine_rt import train`` counts as importing ``spine_rt.train``.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: top-level source folder -> the package it installs as (pyproject's ``package-dir``)
SOURCE_FOLDERS = {"spine_rt": "spine_rt", "export": "spine_rt.export", "engines": "spine_rt.engines",
                  "cli": "spine_rt.cli"}

#: packages/modules (with everything under them) that are not on the run path
OFF_RUN_PATH = ("spine_rt.train", "spine_rt.phantoms", "spine_rt.bench", "spine_rt.demo",
                "spine_rt.cli.train", "spine_rt.cli.demo", "spine_rt.cli.bench")

#: the command table: it imports every command module, the off-path ones included (rule 2 keeps that cheap)
COMMAND_TABLE = "spine_rt.cli.main"
OFF_PATH_COMMANDS = ("spine_rt.cli.train", "spine_rt.cli.demo", "spine_rt.cli.bench")

ANATOMY = "spine_rt.anatomy"
#: what anatomy may import of the project besides itself (a leaf: checked below)
ANATOMY_MAY_IMPORT = ("spine_rt.errors",)

#: run-path imports of off-path code removed on another branch of the same change;
#: (importer, imported). An entry that no longer matches an import fails the test: delete it then.
PENDING: tuple[tuple[str, str], ...] = ()

_MODULE_STRING = re.compile(r"spine_rt(\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class Import:
    """One imported module name as written (resolved to absolute), where, and whether at module level."""

    name: str
    line: int
    top_level: bool


def _in(name: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(name == package or name.startswith(package + ".") for package in packages)


@functools.cache
def source_modules(repo: Path = REPO) -> dict[str, Path]:
    """Every project module name -> its source file."""
    modules: dict[str, Path] = {}
    for folder, package in SOURCE_FOLDERS.items():
        for path in sorted((repo / folder).rglob("*.py")):
            parts = list(path.relative_to(repo / folder).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """The project-level names ``module`` imports (``import``, ``from .. import``, module-name strings)."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, top_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.append(Import(origin, node.lineno, top_level))
            # `from spine_rt import train` imports the sub-module spine_rt.train
            found.extend(Import(f"{origin}.{alias.name}", node.lineno, top_level)
                         for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _MODULE_STRING.fullmatch(node.value):
            found.append(Import(node.value, node.lineno, top_level))
        inner = top_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return [item for item in found if _in(item.name, "spine_rt")]


@functools.cache
def project_imports(repo: Path = REPO) -> tuple[tuple[str, Import], ...]:
    """(importer, import) for every project import of every project module."""
    return tuple((module, item) for module, path in source_modules(repo).items()
                 for item in imports_of(module, path.read_text(encoding="utf-8"), path.name == "__init__.py"))


def _where(module: str, item: Import, repo: Path = REPO) -> str:
    return f"{source_modules(repo)[module].relative_to(repo)}:{item.line} ({module} imports {item.name})"


# -- the scanner itself ----------------------------------------------------------------------------

def test_scanner_sees_every_kind_of_import():
    source = (
        "import spine_rt.train.loop\n"
        "from ..phantoms import spine_mr\n"
        "from . import sibling\n"
        "from spine_rt import train as t\n"
        "def f():\n"
        "    from spine_rt.io import Image\n"
        "TABLE = {'Name': 'spine_rt.bench.bench_input'}\n"
        "'''a docstring naming spine_rt.train is no import'''\n"
    )
    found = {(item.name, item.top_level) for item in imports_of("spine_rt.measure.level_check", source)}
    assert ("spine_rt.train.loop", True) in found
    assert ("spine_rt.phantoms.spine_mr", True) in found
    assert ("spine_rt.measure.sibling", True) in found
    assert ("spine_rt.train", True) in found
    assert ("spine_rt.io.Image", False) in found
    assert ("spine_rt.bench.bench_input", True) in found
    assert not any(name == "spine_rt.train" and not top for name, top in found)
    # relative imports inside a package's __init__ resolve against the package itself
    package = {item.name for item in imports_of("spine_rt.anatomy", "from .levels import X\n", is_package=True)}
    assert "spine_rt.anatomy.levels" in package


def test_scanner_finds_the_tree():
    modules = source_modules()
    for expected in ("spine_rt", "spine_rt.cli.main", "spine_rt.export", "spine_rt.engines",
                     "spine_rt.pipelines.xray.pipeline", "spine_rt.measure", "spine_rt.train", ANATOMY):
        assert expected in modules, expected
    # the off-path command imports its package (inside the command): the scanner must see it
    assert any(_in(item.name, "spine_rt.train") and not item.top_level
               for module, item in project_imports() if module == "spine_rt.cli.train")


def test_source_folders_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir = config["tool"]["setuptools"]["package-dir"]
    assert {folder: package for package, folder in package_dir.items()} == SOURCE_FOLDERS


# -- the layers ------------------------------------------------------------------------------------

def _run_path_violations(repo: Path = REPO) -> list[tuple[str, Import]]:
    found = []
    for module, item in project_imports(repo):
        if _in(module, OFF_RUN_PATH) or not _in(item.name, OFF_RUN_PATH):
            continue
        if module == COMMAND_TABLE and _in(item.name, OFF_PATH_COMMANDS):
            continue
        if not any(module == seen and item.line == other.line for seen, other in found):  # one per import line
            found.append((module, item))
    return found


def test_run_path_imports_no_training_phantom_bench_or_demo_code():
    violations = _run_path_violations()

    def pending(module: str, item: Import) -> bool:
        return any(module == importer and _in(item.name, imported) for importer, imported in PENDING)

    stale = [entry for entry in PENDING if not any(pending(module, item) and module == entry[0]
                                                   and _in(item.name, entry[1]) for module, item in violations)]
    assert not stale, f"PENDING entries no longer needed (delete them): {stale}"
    unexpected = [_where(module, item) for module, item in violations if not pending(module, item)]
    assert not unexpected, "run-path modules import off-path code:\n" + "\n".join(unexpected)


def test_off_path_commands_import_their_packages_only_when_run():
    top_level = [_where(module, item) for module, item in project_imports()
                 if module in OFF_PATH_COMMANDS and item.top_level
                 and _in(item.name, OFF_RUN_PATH) and not _in(item.name, OFF_PATH_COMMANDS)]
    assert not top_level, "off-path packages imported at module level:\n" + "\n".join(top_level)


def test_anatomy_imports_only_itself():
    modules = source_modules()
    assert any(_in(module, ANATOMY) for module in modules), "spine_rt.anatomy is missing"
    outside = [_where(module, item) for module, item in project_imports()
               if _in(module, ANATOMY) and not _in(item.name, (ANATOMY, *ANATOMY_MAY_IMPORT))]
    assert not outside, "spine_rt.anatomy imports other project code:\n" + "\n".join(outside)
    leaves = [_where(module, item) for module, item in project_imports()
              if module in ANATOMY_MAY_IMPORT and item.name != module]
    assert not leaves, "what anatomy may import must import nothing of the project:\n" + "\n".join(leaves)
