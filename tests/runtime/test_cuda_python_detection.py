"""cuda-python is detected by its runtime bindings, and a broken one is not reported as missing.

Packages written to ``tmp_path`` stand for what other wheels put on disk:
a ``cuda`` namespace package without the bindings (``cuda-pathfinder``,
``nvidia-cuda-*``), and bindings whose import fails (a driver that does not
support their CUDA major). Nothing here pretends to run CUDA.
"""

from __future__ import annotations

import importlib
import sys

import pytest

from spine_rt.dependencies import cuda_python_installed, is_available
from spine_rt.errors import EnvironmentProblem

pytestmark = pytest.mark.skipif(cuda_python_installed(), reason="cuda-python is installed here")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder first on ``sys.path``; ``cuda`` modules are forgotten before and after."""
    def forget():
        for name in [n for n in sys.modules if n == "cuda" or n.startswith("cuda.")]:
            del sys.modules[name]  # none were imported before (cuda-python is absent here)
        importlib.invalidate_caches()

    forget()
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        yield tmp_path
    forget()


def test_a_cuda_namespace_package_without_the_bindings_is_not_cuda_python(site):
    (site / "cuda" / "pathfinder").mkdir(parents=True)
    (site / "cuda" / "pathfinder" / "__init__.py").write_text("")
    assert is_available("cuda")  # what the old check asked
    assert not cuda_python_installed()


def test_a_cuda_namespace_package_does_not_make_gpus_ask_cuda_python(site, monkeypatch):
    from spine_rt.runtime import machine as gpus

    (site / "cuda" / "pathfinder").mkdir(parents=True)
    (site / "cuda" / "pathfinder" / "__init__.py").write_text("")
    monkeypatch.setattr(gpus, "is_available", lambda module: False)  # no torch either
    assert gpus.visible_gpus() is None  # unknown, not a crash importing bindings that are not there


def test_broken_cuda_python_is_reported_as_broken_not_as_missing(site):
    from spine_rt.runtime.cuda_memory import cuda_runtime

    bindings = site / "cuda" / "bindings"
    bindings.mkdir(parents=True)
    (bindings / "__init__.py").write_text("")
    (bindings / "runtime.py").write_text(
        "raise ImportError('libcudart.so.13: cannot open shared object file')\n")
    assert cuda_python_installed()
    with pytest.raises(EnvironmentProblem) as raised:
        cuda_runtime()
    message = str(raised.value)
    assert "installed but" in message and "libcudart.so.13" in message and "not installed" not in message


@pytest.mark.parametrize("where", ["bindings package", "cudart module"])
def test_bindings_whose_package_fails_to_import_are_broken_not_missing(site, where):
    """Detection reads the files, so an import that fails in ``cuda/bindings/__init__.py``
    (or the older ``cuda/cudart``) is reported with its error, not as "not installed"."""
    from spine_rt.runtime.cuda_memory import cuda_runtime

    failing = "raise ImportError('CUDA driver version is insufficient for CUDA runtime version')\n"
    if where == "bindings package":
        (site / "cuda" / "bindings").mkdir(parents=True)
        (site / "cuda" / "bindings" / "__init__.py").write_text(failing)
        (site / "cuda" / "bindings" / "runtime.py").write_text("")
    else:
        (site / "cuda").mkdir()
        (site / "cuda" / "cudart.py").write_text(failing)
    assert cuda_python_installed()
    with pytest.raises(EnvironmentProblem, match="installed but.*driver version is insufficient"):
        cuda_runtime()
