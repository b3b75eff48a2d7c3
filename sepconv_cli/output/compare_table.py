"""The Rich table of ``sepconv compare``: totals, then the layers that changed.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the JSON and
markdown renderings, and the value and delta cells this table shares with them, are in
:mod:`sepconv_cli.output.compare_formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.analysis.compare import LABELS, Comparison, Delta
from sepconv_cli.output.compare_formats import fmt_delta, fmt_value


def compare_table(result: Comparison) -> RenderableType:
    """Totals first, then the layers that changed (unchanged ones are counted, not listed)."""
    title = f"{result.base.label} → {result.new.label}" + (
        ""
        if result.base.model == result.new.model
        else f"  ({result.base.model} vs {result.new.model})"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
    table.add_column("Layer", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("Status", no_wrap=True)
    for metric in result.metrics:
        table.add_column(f"{LABELS[metric]} base", justify="right", no_wrap=True)
        table.add_column(f"{LABELS[metric]} new", justify="right", no_wrap=True)
        table.add_column("Δ", justify="right", no_wrap=True)
    unchanged = 0
    for change in result.changes:
        if change.status == "matched" and not any(change.delta(m).absolute for m in result.metrics):
            unchanged += 1
            continue
        table.add_row(change.name, change.status, *_delta_cells(result.metrics, change.delta, ""))
    table.add_section()
    table.add_row(
        Text("Total", style="bold"), "", *_delta_cells(result.metrics, result.total, "bold ")
    )
    note = Text(
        f"{unchanged} unchanged layer{'s' if unchanged != 1 else ''} not listed. "
        "Values are the models as specified.",
        style="dim",
    )
    verdict = (
        Text("\n".join(f"✗ {f}" for f in result.failures), style="bold red")
        if result.failures
        else Text("")
    )
    return Group(table, note, verdict)


def _delta_cells(
    metrics: Sequence[str], delta_of: Callable[[str], Delta], emphasis: str
) -> list[str | Text]:
    """Base, new and a coloured Δ per metric (red: grew, green: shrank)."""
    cells: list[str | Text] = []
    for metric in metrics:
        delta = delta_of(metric)
        style = emphasis + ("red" if (delta.absolute or 0) > 0 else "green")
        cells += [
            fmt_value(metric, delta.base),
            fmt_value(metric, delta.new),
            Text(fmt_delta(metric, delta), style=style),
        ]
    return cells
