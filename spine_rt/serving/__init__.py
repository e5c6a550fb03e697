"""Serving on Triton Inference Server: model repositories and a local server.

::

    from spine_rt.serving import write_triton_repository, RepositoryOptions, TritonServerProcess
    write_triton_repository("pkg/", "repo/", RepositoryOptions(flavour="python"))
    server = TritonServerProcess("repo/", grpc_port=8001); server.start(); ...; server.stop()

The client side is :class:`spine_rt.runtime.TritonRunner` (``backend="triton"``).
Importing this package imports neither tritonclient nor pytriton. Names are
loaded on first access (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine_rt.lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "TritonModelConfig": "spine_rt.serving.triton_model_config",
    "parse_model_config": "spine_rt.serving.triton_model_config",
    "RepositoryOptions": "spine_rt.serving.triton_repository",
    "write_triton_repository": "spine_rt.serving.triton_repository",
    "triton_model_name": "spine_rt.serving.triton_repository",
    "TritonServerProcess": "spine_rt.serving.triton_server",
    "find_tritonserver": "spine_rt.serving.triton_server",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from spine_rt.serving.triton_model_config import TritonModelConfig, parse_model_config
    from spine_rt.serving.triton_repository import RepositoryOptions, triton_model_name, write_triton_repository
    from spine_rt.serving.triton_server import TritonServerProcess, find_tritonserver

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
