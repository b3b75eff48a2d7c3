"""Report formats: the ``--format`` choices, and each report's table of renderers.

pip-audit's ``_format/`` idea, with a function per format instead of a class: every report
kind (cost, profile, presets, compare, validate, machine) has one :class:`ReportFormats`, a
mapping Format → renderer, in :mod:`sepconv_cli.output.reports`. A command hands its report
and the chosen format to that mapping and emits what comes back; it never branches on the
format itself. A format missing from a report's mapping is a usage error naming the formats
it has. Renderers return a ``str`` (JSON, CSV, markdown, plain lines) or a Rich renderable
(tables); none prints.

The format is ``--format``'s, else ``--output``'s extension (:func:`choose_format`): a
``.json`` file gets JSON, never a table. This module is imported whenever a command is
registered, so it imports no renderer, no Rich and no NumPy.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, Union

from sepconv_cli.errors import UsageError
from sepconv_cli.units import FACTOR_FROM as FACTOR_FROM
from sepconv_cli.units import percent as percent
from sepconv_cli.units import times_fewer as times_fewer

if TYPE_CHECKING:
    from rich.console import RenderableType


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"

    @property
    def for_programs(self) -> bool:
        """JSON is read by programs. It no longer hides the progress bar, which shows
        whenever stderr is a terminal (``cli/console.ProgressBar``): stdout stays the
        report's alone either way."""
        return self is Format.json


FORMAT_NAMES = tuple(f.value for f in Format)
# --output's extension -> the format written when --format is not given
EXTENSIONS: dict[str, Format] = {
    ".json": Format.json,
    ".csv": Format.csv,
    ".md": Format.markdown,
    ".markdown": Format.markdown,
}
# extensions a table (or any format named by --format) may be written to: plain text
TEXT_EXTENSIONS = ("", ".txt", ".text", ".log", ".out")
_USE = ".json, .csv or .md (the extension chooses the format), or .txt for a table"
# words people try for --format that are no format's name, and what to say instead
_INSTEAD = {
    "yaml": "there is no YAML format; json is valid YAML",
    "yml": "there is no YAML format; json is valid YAML",
    "md": "did you mean 'markdown'?",
    "text": "did you mean 'table'?",
    "txt": "did you mean 'table'?",
}


def _listing(names: Iterable[str]) -> str:
    """``a, b or c``."""
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def parse_format(text: str) -> Format:
    """``--format``'s value, case-insensitive; anything else is one line listing the
    formats (with a did-you-mean when a name is close)."""
    word = text.strip().lower()
    if word in FORMAT_NAMES:
        return Format(word)
    hint = _INSTEAD.get(word)
    if hint is None:
        close = difflib.get_close_matches(word, FORMAT_NAMES, n=1, cutoff=0.7)
        hint = f"did you mean {close[0]!r}?" if close else ""
    return _refuse_format(text, hint)


def _refuse_format(text: str, hint: str) -> Format:
    raise UsageError(
        f"--format: {text[:40]!r} is not a format; choose {_listing(FORMAT_NAMES)}"
        + (f" ({hint})" if hint else "")
    )


def choose_format(
    given: str | None,
    output: Path | None,
    supported: Iterable[Format] = tuple(Format),
    command: str = "this command",
) -> Format:
    """The report's format: ``--format`` when given, else the one ``--output``'s extension
    names (``.json``, ``.csv``, ``.md``), else the table. Refused, naming both flags, when
    ``--format`` and the extension disagree, or when the format (given or taken from the
    extension) is not one this report has; an extension sepconv writes no format to
    (``out.yaml``) is refused (:func:`check_extension`) rather than given a table."""
    if output is not None:
        check_extension(output, (*EXTENSIONS, *TEXT_EXTENSIONS), "--output", _USE)
    implied = EXTENSIONS.get(output.suffix.lower()) if output is not None else None
    chosen = parse_format(given) if given is not None else implied or Format.table
    if given is not None and implied is not None and chosen is not implied:
        raise UsageError(
            f"--format {chosen.value}: --output {output} names a {implied.value} file; "
            f"drop --format (the extension chooses) or change the extension"
        )
    kinds = list(supported)
    if chosen not in kinds:
        names = _listing(k.value for k in kinds)
        if given is None:
            raise UsageError(
                f"--output {output}: {command} cannot write {chosen.value}, only {names} "
                "(change the extension, or give --format)"
            )
        raise UsageError(f"--format: {command} supports {names}")
    return chosen


def check_extension(path: Path, allowed: Iterable[str], flag: str, use: str = "") -> None:
    """Refuse (exit 2) a file whose extension (lower case; ``""`` for none) is not in
    ``allowed``: a report is never written under a name that promises another format.
    ``use`` says what to name it instead (default: the extensions allowed)."""
    suffix = path.suffix.lower()
    kinds = list(allowed)
    if suffix in kinds:
        return
    listing = use or _listing([k for k in kinds if k])
    raise UsageError(f"{flag}: sepconv cannot write a {suffix} file ({path}); use {listing}")


# what a renderer returns: text, or a Rich renderable the console lays out
Rendered = Union[str, "RenderableType"]
R = TypeVar("R", contravariant=True)


@dataclass(frozen=True)
class ReportFormats(Generic[R]):
    """One report's renderers by format, and the note (if any) a format leaves on stderr."""

    command: str
    renderers: Mapping[Format, Callable[[R], Rendered]]
    notes: Mapping[Format, str] = field(default_factory=dict)

    def choose(self, given: str | None, output: Path | None = None) -> Format:
        """:func:`choose_format` for this report: its own formats, its name in messages."""
        return choose_format(given, output, self.renderers, self.command)

    def check(self, format: Format) -> None:
        """Refuse a format this report has no renderer for (usage error, exit 2)."""
        if format not in self.renderers:
            names = [f.value for f in self.renderers]
            supported = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
            raise UsageError(f"--format: {self.command} supports {supported}")

    def render(self, report: R, format: Format) -> Rendered:
        self.check(format)
        return self.renderers[format](report)

    def note(self, format: Format) -> str:
        """A line for people on stderr after the report, or ``""``."""
        return self.notes.get(format, "")


# --------------------------------------------------------------------------- shared words
# Every report says a comparison of the two forms in these words, whatever its format:
# a ratio is separable / standard ("Sep/std", 0.174), and standard / separable is only
# ever said as "N× fewer" (docs/json.md: the JSON keys keep their own directions).

SEP_STD = "Sep/std"
"""The header of every separable / standard ratio column (tables and markdown)."""

TIMES = "×"
"""The one multiplication sign people read (shapes ``12×12×3``, repeats ``×5``, factors
``22.8× fewer``, speed-ups ``2.00×``); ``x`` only where a flag's value is written back
(``--input 12x12x3``) and in CSV, which programs read."""
