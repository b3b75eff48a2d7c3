"""A sweep as a Rich renderable: one row per value (human units; exact counts are in the
other formats), the convention footer, then the chart in colour.

Rule: the only sweep module that imports Rich (``render`` imports it only for the table
format). Timed points add their measured times. Columns that do not fit the console are
left out in a stated order, with a note (:mod:`sepconv_cli.output.fit`); the chart narrows.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from sepconv_cli.analysis.sweep import SweepReport
from sepconv_cli.counting.conventions import SWEEP_FOOTER
from sepconv_cli.counting.report import LayerReport
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.fit import Cell, FitTable, drop
from sepconv_cli.output.formats import SEP_STD, times_fewer
from sepconv_cli.output.sweep.captions import describe_base
from sepconv_cli.output.sweep.chart import (
    CHART_WIDTH,
    MIN_CHART_WIDTH,
    bar_suffix,
    chart,
    limit_text,
)
from sepconv_cli.output.tables import better_style
from sepconv_cli.spec.vary import value_text
from sepconv_cli.units import human, ms_number, shape_cell

# narrower than its full width, a table of points lets go of, in this order: the three
# parameter columns, the theory, the output shapes, then the "fewer" column
POINT_STEPS = (
    drop("std_params", "sep_params", "params_ratio"),
    drop("theory"),
    drop("output"),
    drop("fewer"),
)


def add_point_columns(table: FitTable, timed: bool, int8: bool = False) -> None:
    """The columns of one point after its value(s): output shape, both MACs, the ratio, the
    theory, "fewer", the times when ``timed`` (``int8``: also the float32 speed-up of the
    same run), both params and their ratio (the sweep table and the grid's long table)."""
    table.add_column("output", "Output", justify="left")
    names = [
        ("std_macs", "Std MACs"),
        ("sep_macs", "Sep MACs"),
        ("ratio", SEP_STD),
        ("theory", "Theory"),
        ("fewer", "Sep vs std"),
    ]
    if timed:
        names += [("std_ms", "Std ms"), ("sep_ms", "Sep ms"), ("speedup", "Speed-up")]
    if timed and int8:
        names += [("f32_speedup", "f32 speed-up")]
    names += [("std_params", "Std params"), ("sep_params", "Sep params")]
    names += [("params_ratio", f"{SEP_STD} params")]
    for key, name in names:
        table.add_column(key, name)


def point_cells(r: LayerReport, timed: bool, int8: bool = False) -> list[Cell]:
    """One point's cells for :func:`add_point_columns`' columns."""
    ratio, params_ratio = r.ratio_macs, r.ratio_params
    sep_macs, sep_params = r.separable.total.macs, r.separable.total.params
    cells: list[Cell] = [
        shape_cell(r.row.output_shape),
        human(r.standard.macs),
        Text(human(sep_macs), style=better_style(sep_macs, r.standard.macs)),
        f"{float(ratio):.4f}" if ratio is not None else "-",
        f"{float(r.theory):.4f}" if r.theory is not None else "-",
        times_fewer(ratio) if ratio is not None else "-",
    ]
    if timed:
        cols = timing_columns(r.timing)
        cells += [
            ms_number(cols["standard_median_s"]),
            ms_number(cols["separable_median_s"]),
            f"{cols['speedup']:.2f}×" if isinstance(cols["speedup"], float) else "-",
        ]
    if timed and int8:
        base = r.timing.float32 if r.timing is not None else None
        cells.append(f"{base.speedup:.2f}×" if base is not None else "-")
    cells += [
        human(r.standard.params),
        Text(human(sep_params), style=better_style(sep_params, r.standard.params)),
        f"{float(params_ratio):.4f}" if params_ratio is not None else "-",
    ]
    return cells


def sweep_table(report: SweepReport) -> RenderableType:
    """One row per value (human units; exact counts in the other formats), then the chart.

    Narrower than its full width, the table lets go of, in this order: the three parameter
    columns, the theory, the output shapes, then the "fewer" column
    (:mod:`sepconv_cli.output.fit`); the value, both MACs, the ratio and the times stay."""
    runtime = next((t.runtime for p in report.points if (t := p.report.timing)), None)
    on = f"; timed on {runtime.label()}" if runtime is not None else ""  # NumPy: as before
    table = FitTable(
        title=f"Sweep of {report.parameter}: {describe_base(report)}{on}", steps=POINT_STEPS
    )
    table.add_column("value", report.parameter)
    timed = any(p.report.timing for p in report.points)
    int8 = any(t.float32 for p in report.points if (t := p.report.timing) is not None)
    add_point_columns(table, timed, int8)
    for p in report.points:
        table.add_row(value_text(p.value), *point_cells(p.report, timed, int8))
    footer = Text(SWEEP_FOOTER, style="dim")
    return Group(table, footer, Text(""), sweep_chart(report))


_STYLES = {"pointwise": "green", "depthwise": "yellow", "same": "dim"}


class SweepChart:
    """The ratio per value as horizontal bars on one scale, with the asymptote marked; the
    bars are at most ``CHART_WIDTH`` cells, fewer when the console is narrower."""

    def __init__(self, report: SweepReport) -> None:
        self.report = report
        bars, _, _ = chart(report)
        self.label_width = max([len(b.label) for b in bars] + [len(report.parameter)])
        self.suffix_width = max(len(bar_suffix(b)) for b in bars) if bars else 1

    def _width_around_bars(self) -> int:
        return self.label_width + 2 + 1 + self.suffix_width  # "label │" bars " suffix"

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        full = self._width_around_bars() + CHART_WIDTH
        return Measurement(self._width_around_bars() + MIN_CHART_WIDTH, full)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width - self._width_around_bars()
        yield self.render(max(MIN_CHART_WIDTH, min(CHART_WIDTH, width)))

    def render(self, width: int) -> Text:
        report = self.report
        bars, column, legend = chart(report, width)
        label_width = self.label_width
        text = Text()
        text.append(
            f"{report.parameter.rjust(label_width)}  separable / standard MACs\n", style="bold"
        )
        for b in bars:
            text.append(f"{b.label.rjust(label_width)} │")
            used = 0
            for part, glyphs in b.segments:
                text.append(glyphs, style=_STYLES[part])
                used += len(glyphs)
            text.append(" " * max(width - used, 0) + f" {bar_suffix(b)}\n")
        if column is not None and report.asymptote is not None:
            text.append(
                " " * (label_width + 2 + column) + "▲ " + limit_text(report) + "\n", style="bold"
            )
        text.append(legend, style="dim")
        return text


def sweep_chart(report: SweepReport) -> RenderableType:
    """The chart, sized to the console when printed."""
    return SweepChart(report)
