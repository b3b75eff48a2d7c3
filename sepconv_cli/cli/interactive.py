"""``sepconv interactive``: a calculator prompt for a real terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import typer

from sepconv_cli.cli.options import console
from sepconv_cli.errors import UsageError

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


def _history_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "sepconv" / "history"


def _setup_readline() -> Any:
    """Line editing, persistent history and Tab completion where readline exists."""
    try:
        import readline
    except ImportError:  # pragma: no cover - e.g. Windows without pyreadline
        return None
    from sepconv_cli.analysis.interactive import completions

    history = _history_file()
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    except OSError:
        pass  # no history is better than no calculator
    readline.set_history_length(1000)
    readline.set_completer(lambda text, state: completions(text, state, readline.get_line_buffer()))
    readline.set_completer_delims(" ")
    readline.parse_and_bind("tab: complete")
    return readline


@app.command()
def interactive() -> None:
    """An interactive calculator: change one parameter at a time and watch the cost table.

    Needs a terminal. Commands: input 224x224x32, kernel 3, filters 512, stride 2,
    padding same, dilation 2, groups 4, multiplier 2, bias on, batch 8, dtype float16,
    show, time, json, reset, help, quit.
    """
    if not sys.stdin.isatty():
        raise UsageError(
            "interactive needs a terminal on stdin; for scripts use 'sepconv cost' with flags"
        )
    from sepconv_cli.analysis.interactive import Session

    readline = _setup_readline()
    out = console()
    session = Session()
    out.print("sepconv interactive — type help for commands, quit to leave.\n")
    _show(out, session.report(), timed=False)
    try:
        while True:
            try:
                line = input("sepconv> ")
            except EOFError:
                out.print()
                break
            reply = session.handle(line)
            if reply.done:
                break
            if reply.message:
                out.print(
                    reply.message,
                    style="red" if reply.error else None,
                    markup=False,
                    highlight=False,
                )
            if reply.report is not None:
                if reply.json:
                    from sepconv_cli.output.json import cost_json

                    dtype = str(session.values.get("dtype", "float32"))
                    out.print(cost_json([reply.report], dtype), markup=False, highlight=False)
                else:
                    _show(out, reply.report, timed=reply.timed)
    except KeyboardInterrupt:
        out.print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):  # history is a convenience, never an error
                readline.write_history_file(_history_file())


def _show(out: Any, report: Any, *, timed: bool) -> None:
    from sepconv_cli.output.tables import cost_table

    if timed:
        from sepconv_cli.execution.profiling import time_report

        report = time_report(report)
    out.print(cost_table(report))
