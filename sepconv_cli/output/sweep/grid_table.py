"""A sweep grid as a Rich renderable: a pivot for two parameters, one row per point for more.

Rules:

* Two parameters: the pivot of :mod:`sepconv_cli.output.sweep.pivot` (rows: the parameter
  with more values; cells: ``--metric``), then a note naming the metric.
* Three or more, or a pivot wider than the console: one row per point (every varied
  parameter's value, both MACs, the ratio, ...) with a note saying why. A long table drops
  columns it cannot fit in the sweep table's order (:mod:`sepconv_cli.output.fit`); a pivot
  never drops a column, since each is a value of the grid.
* The convention footer follows, as in a sweep.
"""

from __future__ import annotations

from rich import box as boxes
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from sepconv_cli.analysis.grid import GridReport
from sepconv_cli.counting.conventions import SWEEP_FOOTER
from sepconv_cli.output.fit import FitTable
from sepconv_cli.output.sweep.captions import describe_grid
from sepconv_cli.output.sweep.pivot import Pivot, pivot
from sepconv_cli.output.sweep.table import POINT_STEPS, add_point_columns, point_cells
from sepconv_cli.spec.vary import value_text


def grid_title(report: GridReport) -> str:
    return f"Sweep grid of {' × '.join(report.parameters)}: {describe_grid(report)}"


def grid_table(report: GridReport) -> RenderableType:
    """The pivot (two parameters, when it fits) or the long table, then the footer."""
    footer = Text(SWEEP_FOOTER, style="dim")
    if len(report.axes) == 2:
        return Group(GridView(report, pivot(report, report.metric)), footer)
    note = Text(
        f"{len(report.axes)} parameters: one row per point ({len(report.points):,}), "
        f"{ORDER_NOTE}. A pivot needs exactly two --vary.",
        style="dim",
    )
    return Group(long_table(report), note, footer)


ORDER_NOTE = "the last --vary changing fastest"


class GridView:
    """The pivot when it fits the console, else the long table with a note that says so."""

    def __init__(self, report: GridReport, model: Pivot) -> None:
        self.report = report
        self.model = model
        self.pivot = pivot_table(report, model)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.pivot)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        needed = Measurement.get(console, options.update_width(100_000), self.pivot).maximum
        if needed <= options.max_width:
            yield Text(grid_title(self.report), style="italic")
            yield self.pivot
            yield Text(self.model.note, style="dim")
            return
        yield long_table(self.report)
        yield Text(
            f"One row per point ({len(self.report.points):,}, {ORDER_NOTE}): the pivot "
            f"({len(self.model.column_labels)} {self.model.column_parameter} columns) needs "
            f"{needed} columns, the terminal has {options.max_width}.",
            style="dim",
        )


def pivot_table(report: GridReport, model: Pivot) -> Table:
    # the look of every sepconv table (output.fit's compact SIMPLE_HEAD)
    table = Table(box=boxes.SIMPLE_HEAD, header_style="bold", collapse_padding=True, pad_edge=False)
    table.add_column(model.corner, justify="right", style="bold", no_wrap=True)
    for label in model.column_labels:
        table.add_column(label, justify="right", no_wrap=True)
    for i, label in enumerate(model.row_labels):
        table.add_row(label, *(model.cell(i, j) for j in range(len(model.column_labels))))
    return table


def long_table(report: GridReport) -> FitTable:
    """One row per point: every varied parameter's value, then a sweep table's columns
    (:func:`~sepconv_cli.output.sweep.table.add_point_columns`), dropped in its order."""
    table = FitTable(title=grid_title(report), steps=POINT_STEPS)
    for i, parameter in enumerate(report.parameters):
        table.add_column(f"value{i}", parameter)
    timed = any(p.report.timing for p in report.points)
    add_point_columns(table, timed)
    for p in report.points:
        table.add_row(*(value_text(v) for v in p.values), *point_cells(p.report, timed))
    return table
