"""Where a command's output goes: Rich consoles sized to the terminal or to the report,
``emit`` (stdout or an atomic ``--output``), notes on stderr (:class:`Messages`, silenced by
``--quiet``) and the progress bar while timing.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

from sepconv_cli.names import shown
from sepconv_cli.output.files import announce_with, write_atomic


def _warn_if_busy() -> None:
    """Times taken while other programs hold the cores are slower and noisier: say so."""
    try:
        load = os.getloadavg()[0]
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return
    if load > cores - 0.25:  # a 1-minute average: our own last run counts too
        Messages.note(
            f"sepconv: note: this machine is busy (load {load:.1f} on {cores} "
            "cores); times will be slower and noisier than on an idle machine"
        )


class ProgressBar:
    """A Rich progress bar on stderr while timing, whenever stderr is a terminal (whatever
    the report's format or destination: JSON goes to stdout or a file, the bar to the
    person watching) and not ``--quiet``; a pipe or a file sees nothing. ``enabled=False``
    is a caller's own opt-out."""

    def __init__(self, total_label: str, *, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty() and not Messages.quiet
        self.label = total_label
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressBar:
        _warn_if_busy()  # timing starts now: the input was valid
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.progress.__enter__()
        return self

    def update(self, done: int, total: int, name: str) -> None:
        if self.progress is None:
            return
        if self.task is None:
            self.task = self.progress.add_task(_markup(self.label), total=total)
        description = f"{self.label}: {name}" if name else self.label
        self.progress.update(self.task, completed=done, description=_markup(description))

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _markup(text: str) -> str:
    """``text`` (a model's or a layer's name in it) as the progress bar's column reads it:
    Rich markup, so shown (:func:`sepconv_cli.names.shown`) and its ``[`` escaped (a name's
    ``[bold]`` is text, and a lone ``[/x]`` would be an error)."""
    from rich.markup import escape

    return escape(shown(text))


class Messages:
    """stderr notes for people; silenced by --quiet. Reports never go here. Each note is one
    line, shown (:func:`sepconv_cli.names.shown`): a name from a file in it cannot start a
    line of its own or send the terminal an escape sequence."""

    quiet = False

    @classmethod
    def note(cls, text: str) -> None:
        if not cls.quiet:
            print(_wrapped(shown(text)), file=sys.stderr)

    @staticmethod
    def always(text: str) -> None:
        print(_wrapped(shown(text)), file=sys.stderr)


# every file a command writes (-o, --plot, export-spec, schema -o) says so, as export does
announce_with(lambda path: Messages.note(f"sepconv: wrote {path}"))


def _wrapped(text: str) -> str:
    """On a terminal, ``text`` wrapped between words at its width (the terminal itself would
    break a word in two); piped, unchanged, one line per message for ``grep``."""
    if not sys.stderr.isatty():
        return text
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
        for line in text.splitlines()
    )


def console(file: Any = None, *, stderr: bool = False, content: Any = None) -> Any:
    """A Rich console for a report or a note.

    On a terminal Rich reads the terminal's width and the tables fit it (columns are left
    out in a stated order, never cut: :mod:`sepconv_cli.output.fit`). Piped (a CI log, a
    file) nothing is left out: the width is ``COLUMNS`` when set, else the full width of
    ``content``, the renderable about to be printed (at least 80). No colour when piped;
    Rich also honours NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if file is not None:
        width = content_width(content)  # a file is read later, at any width
    elif not stream.isatty():
        columns = os.environ.get("COLUMNS", "").strip()
        width = int(columns) if columns.isdigit() and int(columns) > 0 else None
        width = width or content_width(content)
    return Console(file=file, width=width, highlight=False, soft_wrap=False, stderr=stderr)


def content_width(content: Any, minimum: int = 80) -> int:
    """The width ``content`` takes when nothing constrains it: its widest table at full
    width, its longest line of text."""
    if content is None:
        return minimum
    from rich.console import Console

    measuring = Console(width=100_000, file=io.StringIO(), color_system=None)
    return max(minimum, measuring.measure(content).maximum)


_WRITE_CHUNK = 1 << 20  # characters


def emit(text_or_renderable: Any, output: Path | None) -> None:
    """Print the report to stdout, or write it atomically to ``--output``."""
    if isinstance(text_or_renderable, str):
        if output is None:
            # in slices: writing a 16 MB report at once encodes a second 16 MB copy
            for start in range(0, len(text_or_renderable), _WRITE_CHUNK):
                sys.stdout.write(text_or_renderable[start : start + _WRITE_CHUNK])
            sys.stdout.flush()
        else:
            write_atomic(output, text_or_renderable)
        return
    if output is None:
        console(content=text_or_renderable).print(text_or_renderable)
        return
    buffer = io.StringIO()
    console(buffer, content=text_or_renderable).print(text_or_renderable)
    write_atomic(output, buffer.getvalue())
