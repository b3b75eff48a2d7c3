"""Every rendering of a spatial analysis, one per ``Format``: ``render`` looks it up in
``RENDERERS``, so the command never branches on the format.

Rule: the command module calls ``render`` and emits the result; JSON and CSV live in
``data.py``, markdown in ``markdown.py``, the Rich table in ``table.py`` (imported only for
the table format, so the machine formats never load Rich), and the words the table and
markdown share in ``cells.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sepconv_cli.analysis.spatial.model import Analysis
from sepconv_cli.output.formats import Format
from sepconv_cli.output.spatial.data import spatial_csv, spatial_json
from sepconv_cli.output.spatial.markdown import spatial_markdown

if TYPE_CHECKING:
    from rich.console import RenderableType


def _table(analysis: Analysis) -> RenderableType:
    from sepconv_cli.output.spatial.table import spatial_table  # loads Rich

    return spatial_table(analysis)


RENDERERS: dict[Format, Callable[[Analysis], str | RenderableType]] = {
    Format.table: _table,
    Format.json: spatial_json,
    Format.csv: spatial_csv,
    Format.markdown: spatial_markdown,
}


def render(analysis: Analysis, format: Format) -> str | RenderableType:
    """The analysis in ``format``: a string, or a Rich renderable for the table."""
    return RENDERERS[format](analysis)
