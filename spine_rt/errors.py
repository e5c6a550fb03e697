"""The exception types of spine-rt and the exit code each maps to.

User errors and internal bugs are different types (as in Polygraphy):

* :class:`InputError` - bad input or usage (a missing file, a corrupt image,
  an array of the wrong shape). Derives from :class:`ValueError` so callers
  that catch ``ValueError`` keep working. CLI exit code 2.
* :class:`EnvironmentProblem` - something the machine lacks (a backend that
  is not installed, no GPU, an engine built for another GPU). CLI exit
  code 3. Its message carries the install hint.
* anything else is a bug in spine-rt: CLI exit code 1 with a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_INPUT = 2
EXIT_ENVIRONMENT = 3


class SpineRTError(Exception):
    """Base class of every error spine-rt raises on purpose."""

    exit_code = EXIT_BUG


class InputError(SpineRTError, ValueError):
    """Bad input or usage: one clear line for the user (exit code 2)."""

    exit_code = EXIT_INPUT


class EnvironmentProblem(SpineRTError, RuntimeError):
    """The machine lacks something: a backend, a GPU, a matching engine (exit code 3)."""

    exit_code = EXIT_ENVIRONMENT
