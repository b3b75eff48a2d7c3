"""Exceptions that carry an exit code. Only the command line (``cli/app.py``) turns them into
an exit."""

from __future__ import annotations

EXIT_GATE = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3
EXIT_INTERRUPTED = 130


class SepconvError(Exception):
    """An expected failure with a one-line message and an exit code."""

    exit_code = EXIT_USAGE


class UsageError(SepconvError):
    """Bad input: a flag or spec value. The message names the flag or ``file:line:col: field``."""

    exit_code = EXIT_USAGE


class RuntimeFailure(SepconvError):
    """The input is valid but the work cannot be done here (for example: not enough memory)."""

    exit_code = EXIT_RUNTIME
