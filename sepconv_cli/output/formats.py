"""Report formats: the ``--format`` choices, and each report's table of renderers.

pip-audit's ``_format/`` idea, with a function per format instead of a class: every report
kind (cost, profile, presets, compare, validate, machine) has one :class:`ReportFormats`, a
mapping Format → renderer, in :mod:`sepconv_cli.output.reports`. A command hands its report
and the chosen format to that mapping and emits what comes back; it never branches on the
format itself. A format missing from a report's mapping is a usage error naming the formats
it has. Renderers return a ``str`` (JSON, CSV, markdown, plain lines) or a Rich renderable
(tables); none prints.

This module is imported whenever a command is registered (``--format``'s type), so it
imports no renderer, no Rich and no NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Generic, TypeVar, Union

from sepconv_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.console import RenderableType


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"

    @property
    def for_programs(self) -> bool:
        """JSON is read by programs, which want stdout only: no progress bar on stderr."""
        return self is Format.json


# what a renderer returns: text, or a Rich renderable the console lays out
Rendered = Union[str, "RenderableType"]
R = TypeVar("R", contravariant=True)


@dataclass(frozen=True)
class ReportFormats(Generic[R]):
    """One report's renderers by format, and the note (if any) a format leaves on stderr."""

    command: str
    renderers: Mapping[Format, Callable[[R], Rendered]]
    notes: Mapping[Format, str] = field(default_factory=dict)

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
