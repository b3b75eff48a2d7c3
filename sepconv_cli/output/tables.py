"""Rich tables for people: the presets and machine reports, and the colour every table gives
a separable count against its standard one (:func:`better_style`).

Functions return renderables; the command emits them (``cli/console.emit``). Modules that
draw Rich tables (this one, ``cost_table``, ``profile_table``, ``compare_table``) are
imported only when the table format is asked for (see :mod:`sepconv_cli.output.reports`),
so the other formats never load Rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.names import shown
from sepconv_cli.output.markdown import machine_rows

if TYPE_CHECKING:
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.spec.presets import Preset


def better_style(separable: int | float, standard: int | float) -> str:
    """Green where the separable form costs less, red where it costs more, plain when equal
    (a 1×1 conv, a dense layer)."""
    return "green" if separable < standard else "red" if separable > standard else ""


def presets_table(items: Sequence[Preset]) -> RenderableType:
    table = Table(
        title="Built-in models (sepconv profile NAME)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("Name", no_wrap=True)
    table.add_column("Description")
    for preset in items:
        table.add_row(preset.name, preset.description)
    return table


def machine_table(info: Machine) -> RenderableType:
    table = Table(
        title="This machine", title_justify="left", box=box.SIMPLE_HEAD, show_header=False
    )
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")  # long paths fold, never end in …
    for key, value in machine_rows(info):
        # Text, not markup: a CPU or library name (read from the system, or a cache file)
        # is shown as it is, never applied as [style] markup
        table.add_row(key, Text(shown(value)))
    return table
