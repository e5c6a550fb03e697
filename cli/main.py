"""The ``spine-rt`` command: parser, dispatch and exit codes.

Each sub-command lives in its own module with two functions:
``add_parser(subparsers)`` registers its arguments and ``run(args) -> int``
does the work. Exit codes (DESIGN.md): 0 ok, 2 bad input or usage (one line,
no traceback), 3 environment (missing backend or GPU), 1 internal bug.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from spine_rt import __version__
from spine_rt.cli import (bench, build_engine, demo, doctor, evaluate, export, infer, package, series, train, triton_repo,
                          triton_serve, verify)
from spine_rt.errors import EXIT_BUG, EXIT_INPUT, SpineRTError

#: errno values of faults of the file system or the user's paths, not of spine-rt (exit 2, one line)
WRITE_FAULTS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EISDIR,
                          errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ENOENT, errno.EXDEV, errno.EFBIG})

#: every sub-command module, in the order ``--help`` lists them
COMMANDS = (doctor, demo, export, package, verify, build_engine, train, bench, infer, evaluate, series, triton_repo,
            triton_serve)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests to list the sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="spine-rt",
        description="Spine segmentation networks from PyTorch to fast, exact inference.",
    )
    parser.add_argument("--version", action="version", version=f"spine-rt {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse usage errors exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from spine_rt.interrupts import Terminated, interrupt_exit_code, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt(args.command):
            return args.run(args)
    except SpineRTError as exc:
        message = str(exc) if exc.exit_code == EXIT_BUG else " / ".join(filter(None, str(exc).splitlines()))
        print(f"spine-rt {args.command}: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        why = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"spine-rt {args.command}: {why}; unfinished outputs were removed", file=sys.stderr)
        return interrupt_exit_code(exc)
    except Exception as exc:  # an internal bug: show everything
        if isinstance(exc, OSError) and exc.errno in WRITE_FAULTS:
            # a file-system fault that no command turned into its own message (a model file on a full disk)
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"spine-rt {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
            return EXIT_INPUT
        import traceback

        traceback.print_exc()
        print("spine-rt: internal error (a bug in spine-rt; please report it with the traceback above)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
