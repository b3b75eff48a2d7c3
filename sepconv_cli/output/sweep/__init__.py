"""Every rendering of a sweep, one per ``Format``: ``render`` looks it up in ``RENDERERS``,
so the command never branches on the format.

Rule: the command module calls ``render`` and emits the result; JSON and CSV live in
``data.py``, markdown in ``markdown.py``, the Rich table and coloured chart in ``table.py``
(imported only for the table format, so the machine formats never load Rich), the chart
model in ``chart.py`` and the title and convention footers in ``captions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sepconv_cli.analysis.sweep import SweepReport
from sepconv_cli.output.formats import Format
from sepconv_cli.output.sweep.data import sweep_csv, sweep_json
from sepconv_cli.output.sweep.markdown import sweep_markdown

if TYPE_CHECKING:
    from rich.console import RenderableType


def _table(report: SweepReport) -> RenderableType:
    from sepconv_cli.output.sweep.table import sweep_table  # loads Rich

    return sweep_table(report)


RENDERERS: dict[Format, Callable[[SweepReport], str | RenderableType]] = {
    Format.table: _table,
    Format.json: sweep_json,
    Format.csv: sweep_csv,
    Format.markdown: sweep_markdown,
}


def render(report: SweepReport, format: Format) -> str | RenderableType:
    """The sweep in ``format``: a string, or a Rich renderable for the table."""
    return RENDERERS[format](report)


def shows_progress(format: Format) -> bool:
    """Whether timing may show a progress bar: not for JSON, which scripts read (the bar
    itself also stays off when stderr is not a terminal)."""
    return format is not Format.json
