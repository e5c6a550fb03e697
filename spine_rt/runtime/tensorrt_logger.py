"""A TensorRT logger that forwards to Python ``logging`` and keeps the errors for exception messages.

TensorRT reports why a parse, build or deserialisation failed only through
its logger; the builder and :class:`~spine_rt.runtime.tensorrt_runner.TensorRTRunner`
put the collected errors into the exception they raise. ``tensorrt`` is
imported by the caller and passed in, so this module imports nothing heavy.
"""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger("spine_rt.tensorrt")

#: errors kept per logger (the last ones; a failing build can log hundreds of lines).
MAX_KEPT_ERRORS = 20


def make_tensorrt_logger(trt: Any) -> Any:
    """A ``trt.ILogger`` that logs to ``logging`` (``spine_rt.tensorrt``) and collects error messages.

    Args:
        trt: the imported ``tensorrt`` module.

    Returns:
        The logger; ``logger.errors`` is the list of error messages so far and
        ``logger.take_errors()`` returns and clears it.
    """
    severity = trt.ILogger.Severity
    errors_levels = {severity.INTERNAL_ERROR, severity.ERROR}
    python_levels = {
        severity.INTERNAL_ERROR: logging.CRITICAL,
        severity.ERROR: logging.ERROR,
        severity.WARNING: logging.WARNING,
        severity.INFO: logging.INFO,
        severity.VERBOSE: logging.DEBUG,
    }

    class CollectingTensorRTLogger(trt.ILogger):
        """Logs TensorRT's messages with ``logging`` and keeps the last errors."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, level: Any, msg: str) -> None:  # called by TensorRT, possibly from its threads
            LOG.log(python_levels.get(level, logging.INFO), "%s", msg)
            if level in errors_levels:
                self.errors.append(str(msg).strip())
                del self.errors[:-MAX_KEPT_ERRORS]

        def take_errors(self) -> list[str]:
            taken, self.errors = self.errors, []
            return taken

    return CollectingTensorRTLogger()


def format_errors(errors: list[str]) -> str:
    """TensorRT's errors joined on one line (``"no error message from TensorRT"`` when empty)."""
    text = " | ".join(" ".join(e.split()) for e in errors if e)
    return text or "no error message from TensorRT"
