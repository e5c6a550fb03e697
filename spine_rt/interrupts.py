"""SIGTERM handled like Ctrl-C: the run unwinds, cleans up what it staged, and exits with a message.

``kill PID`` (SIGTERM, what ``timeout``, batch schedulers and container
runtimes send) would otherwise end Python at once: staged temporaries would
stay behind and no message would say why the run stopped. Inside
:func:`sigterm_as_interrupt` SIGTERM removes the run's unpublished
temporaries, prints one line and exits 143 (Ctrl-C unwinds as a
``KeyboardInterrupt`` and exits 130; :mod:`spine_rt.atomic_write` removes
the staged files on the way). SIGKILL cannot be caught: its temporaries are
removed by the next run that writes into the folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

#: shell convention: 128 + signal number
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (raised only where exiting at once is not possible; see below)."""


def _exit_now(command: str) -> None:
    from spine_rt.atomic_write import remove_own_temporaries

    remove_own_temporaries()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        print(f"spine-rt {command}: terminated (SIGTERM); unfinished outputs were removed", file=sys.stderr,
              flush=True)
    os._exit(EXIT_SIGTERM)


@contextlib.contextmanager
def sigterm_as_interrupt(command: str = "") -> Iterator[None]:
    """Within the block, SIGTERM removes this process's unpublished temporaries and exits 143 with one line.

    The handler does not unwind the stack: an exception raised at an
    arbitrary bytecode can leave a lock of ``concurrent.futures`` held and
    hang the worker threads' shutdown (seen with a cohort's read-ahead
    pool). It removes what :mod:`spine_rt.atomic_write` has staged and ends
    the process with ``os._exit``; while a set of outputs is being renamed
    into place it waits until the set is complete
    (:func:`~spine_rt.atomic_write.defer_while_publishing`). Outside the
    main thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        from spine_rt.atomic_write import defer_while_publishing

        if not defer_while_publishing(lambda: _exit_now(command)):
            _exit_now(command)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_exit_code(interrupt: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_SIGTERM if isinstance(interrupt, Terminated) else EXIT_SIGINT
