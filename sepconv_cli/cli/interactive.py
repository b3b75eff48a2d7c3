"""``sepconv interactive``: a calculator prompt for a real terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import typer

from sepconv_cli.cli.console import console
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


@app.command(short_help="A calculator: change one parameter, watch the cost change.")
def interactive() -> None:
    """An interactive calculator: change one parameter at a time and see what changed.

    Needs a terminal. Commands: input 224x224x32, kernel 3 (or kernel=3), filters 512,
    stride 2, padding same, dilation 2, groups 4, multiplier 2, bias on, batch 8,
    dtype float16, table, time, json, reset, help, quit. Ctrl-C clears the line being
    typed (or stops a running time) and keeps the session; Ctrl-D or quit leaves (exit 0).
    """
    if not sys.stdin.isatty():
        raise UsageError(
            "interactive needs a terminal on stdin; for scripts use 'sepconv cost' with flags"
        )
    from sepconv_cli.analysis.interactive import Session
    from sepconv_cli.cli.timing_flags import default_threads

    readline = _setup_readline()
    out = console()
    # one BLAS thread, as cost --time times by default: steady, comparable times
    session = Session(threads=default_threads())
    out.print("sepconv interactive — type help for commands, quit to leave.\n")
    _show(out, session.report())
    try:
        _loop(out, session)
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):  # history is a convenience, never an error
                readline.write_history_file(_history_file())


def _loop(out: Any, session: Any) -> None:
    """Read, handle, print until quit or Ctrl-D. Ctrl-C is Python's REPL's: it drops the
    line being typed (or the command running) and prompts again; it never ends the session.
    """
    while True:
        try:
            line = input("sepconv> ")
            words = line.split()
            if words[:1] == ["time"]:
                runtime = words[1] if len(words) == 2 else session.runtime
                shown = "NumPy" if runtime == "numpy" else runtime
                out.print(f"timing both forms with {shown} (about a second)...", style="dim")
            if _answer(out, session, session.handle(line)):
                return
        except EOFError:
            out.print()
            return
        except KeyboardInterrupt:
            out.print("\nKeyboardInterrupt", markup=False, highlight=False)


def _answer(out: Any, session: Any, reply: Any) -> bool:
    """Print one reply; True when it ends the session."""
    if reply.done:
        return True
    if reply.message:
        style = "red" if reply.error else "yellow" if reply.warning else None
        out.print(reply.message, style=style, markup=False, highlight=False)
    if reply.report is not None:
        if reply.json:
            from sepconv_cli.output.json import cost_json

            dtype = str(session.values.get("dtype", "float32"))
            out.print(cost_json([reply.report], dtype), markup=False, highlight=False)
        else:
            _show(out, reply.report)
    return False


def _show(out: Any, report: Any) -> None:
    """The full table (with the measured times when ``report`` was timed)."""
    from sepconv_cli.output.cost_table import cost_table

    out.print(cost_table(report))
