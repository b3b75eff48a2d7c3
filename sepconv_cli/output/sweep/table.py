"""A sweep as a Rich renderable: one row per value (human units; exact counts are in the
other formats), the convention footer, then the chart in colour.

Rule: the only sweep module that imports Rich (``render`` imports it only for the table
format). Timed points show their measured times in place of the parameter columns.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.analysis.sweep import SweepReport
from sepconv_cli.counting.conventions import SWEEP_FOOTER
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.sweep.captions import describe_base
from sepconv_cli.output.sweep.chart import CHART_WIDTH, bar_suffix, chart, limit_text
from sepconv_cli.spec.vary import value_text
from sepconv_cli.units import human, ms_number, shape_cell


def sweep_table(report: SweepReport) -> RenderableType:
    """One row per value (human units; exact counts in the other formats), then the chart."""
    title = f"Sweep of {report.parameter}: {describe_base(report)}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
    table.add_column(report.parameter, justify="right", no_wrap=True)
    table.add_column("Output", no_wrap=True)
    timed = any(p.report.timing for p in report.points)
    # timed, the parameter columns give way to the times (params stay in json/csv/markdown)
    names = ("Std MACs", "Sep MACs", "Ratio", "Theory", "Fewer") + (
        ("Std ms", "Sep ms", "Speed-up") if timed else ("Std params", "Sep params", "Params ratio")
    )
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for p in report.points:
        r = p.report
        ratio, params_ratio = r.ratio_macs, r.ratio_params
        cells: list[str | Text] = [
            value_text(p.value),
            shape_cell(r.row.output_shape),
            human(r.standard.macs),
            Text(human(r.separable.total.macs), style="green"),
            f"{float(ratio):.4f}" if ratio is not None else "-",
            f"{float(r.theory):.4f}" if r.theory is not None else "-",
            f"{float(1 / ratio):.1f}×" if ratio else "-",
        ]
        if not timed:
            cells += [
                human(r.standard.params),
                Text(human(r.separable.total.params), style="green"),
                f"{float(params_ratio):.4f}" if params_ratio is not None else "-",
            ]
        if timed:
            cols = timing_columns(r.timing)
            cells += [
                ms_number(cols["standard_median_s"]),
                ms_number(cols["separable_median_s"]),
                f"{cols['speedup']:.2f}×" if isinstance(cols["speedup"], float) else "-",
            ]
        table.add_row(*cells)
    footer = Text(SWEEP_FOOTER, style="dim")
    return Group(table, footer, Text(""), sweep_chart(report))


def sweep_chart(report: SweepReport) -> RenderableType:
    """The ratio per value as horizontal bars on one scale, with the asymptote marked."""
    bars, column, legend = chart(report)
    label_width = max([len(b.label) for b in bars] + [len(report.parameter)])
    styles = {"floor": "green", "rest": "yellow", "same": "dim"}
    text = Text()
    text.append(f"{report.parameter.rjust(label_width)}  separable / standard MACs\n", style="bold")
    for b in bars:
        text.append(f"{b.label.rjust(label_width)} │")
        used = 0
        for role, glyphs in b.segments:
            text.append(glyphs, style=styles[role])
            used += len(glyphs)
        text.append(" " * max(CHART_WIDTH - used, 0) + f" {bar_suffix(b)}\n")
    if column is not None and report.asymptote is not None:
        text.append(
            " " * (label_width + 2 + column) + "▲ " + limit_text(report) + "\n", style="bold"
        )
    text.append(legend, style="dim")
    return text
