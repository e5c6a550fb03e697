"""Package attributes that import their module on first access (PEP 562).

The packages whose public names need torch, onnx or onnxruntime
(``spine_rt.runtime``, ``spine_rt.export``, ``spine_rt.bench``,
``spine_rt.train``) list ``{name: module}`` and get ``__getattr__`` /
``__dir__`` from :func:`lazy_exports`, so ``import spine_rt.<package>``
stays light and ``from spine_rt.runtime import TorchRunner`` imports torch
only then.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose ``exports`` map a public name to its module.

    A name is imported once and then cached in the package's ``namespace``
    (its ``globals()``); an unknown name raises ``AttributeError`` as usual.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
