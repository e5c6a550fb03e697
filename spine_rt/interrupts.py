"""SIGTERM handled like Ctrl-C: the run unwinds, cleans up what it staged, and exits with a message.

``kill PID`` (SIGTERM, what ``timeout``, batch schedulers and container
runtimes send) would otherwise end Python at once, skipping every
``finally``: staged temporaries would stay behind and no message would say
why the run stopped. Inside :func:`sigterm_as_interrupt` it raises
:class:`Terminated` (a ``KeyboardInterrupt``), so the same clean-up runs as
for Ctrl-C (:mod:`spine_rt.atomic_write` removes staged files, cohorts
write their summary). SIGKILL cannot be caught: its temporaries are removed
by the next run that writes into the folder.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: shell convention: 128 + signal number
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"received signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit_code(interrupt: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_SIGTERM if isinstance(interrupt, Terminated) else EXIT_SIGINT
