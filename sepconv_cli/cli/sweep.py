"""``sepconv sweep``: vary one parameter of a conv layer; a table and a terminal chart.

Timing plugs in per point: attach a timing dict to each point's ``LayerReport`` (its
``timing`` field, as ``sepconv cost --time`` fills it); ``point_dict`` then writes it to the
JSON and ``sweep_table`` adds the measured columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from sepconv_cli.cli.options import (
    CONVENTIONS_HELP,
    EXIT_CODES_HELP,
    BatchOption,
    BiasOption,
    DilationOption,
    DtypeOption,
    FiltersOption,
    FormatOption,
    GroupsOption,
    InputOption,
    KernelOption,
    MaxMemoryOption,
    Messages,
    MultiplierOption,
    OutputOption,
    PaddingOption,
    ProgressBar,
    QuietOption,
    StrideOption,
    ThreadsOption,
    TimeBudgetOption,
    emit,
    timing_from_flags,
)
from sepconv_cli.errors import UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.formats import Format
from sepconv_cli.units import ms_number, shape_cell

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

if TYPE_CHECKING:
    from rich.console import RenderableType

    from sepconv_cli.analysis.sweep import SweepReport

VARY_HELP = (
    "NAME=VALUES, the one parameter to vary: filters, kernel, input (full shapes), size "
    "(spatial size, channels from --input), depth_multiplier (or multiplier), stride. "
    "VALUES: a comma-separated list of values (16,32,64 · 3x5 · 8x8x32) and inclusive "
    "ranges 1..9, with a step 1..9:2 or a factor 8..512:x2. [default: filters=8..1024:x2]"
)


@app.command(
    epilog="Ratio = separable MACs / standard MACs. " + CONVENTIONS_HELP + " " + EXIT_CODES_HELP
)
def sweep(
    vary: Annotated[
        list[str] | None, typer.Option("--vary", "-v", metavar="NAME=VALUES", help=VARY_HELP)
    ] = None,
    input: InputOption = None,
    kernel: KernelOption = None,
    filters: FiltersOption = None,
    stride: StrideOption = None,
    padding: PaddingOption = None,
    dilation: DilationOption = None,
    groups: GroupsOption = None,
    depth_multiplier: MultiplierOption = None,
    bias: BiasOption = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    time: Annotated[
        bool,
        typer.Option(
            "--time/--no-time",
            help="Also execute both forms at "
            "every point with NumPy and report the measured speed-up.",
        ),
    ] = False,
    time_budget: TimeBudgetOption = None,
    threads: ThreadsOption = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = Format.table,
    output: OutputOption = None,
    quiet: QuietOption = False,
) -> None:
    """Vary one parameter of a conv layer: standard vs separable MACs, params and their
    ratio, as a table and a chart, so the saturation of 1/Cout + 1/k² shows at a glance.

    With no flags: the 12x12x3, 5x5 example with 8, 16, ..., 1024 filters; the ratio falls
    towards 1/25 and no further.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    from sepconv_cli.analysis.sweep import DEFAULT_VARY, parse_vary, run_sweep

    texts = vary or [DEFAULT_VARY]
    if len(texts) > 1:
        raise UsageError(
            f"--vary: one parameter at a time (got {len(texts)}: "
            f"{', '.join(t.partition('=')[0] for t in texts)})"
        )
    from sepconv_cli.cli.options import split_flags

    given, common = split_flags(locals())
    settings = timing_from_flags(time, threads, time_budget, max_memory, off_hint="add --time")
    report = run_sweep(parse_vary(texts[0]), given, common)
    if settings is not None:
        from dataclasses import replace

        from sepconv_cli.execution.profiling import time_report

        with ProgressBar("timing", enabled=format is not Format.json) as bar:
            points = tuple(
                replace(
                    point,
                    report=time_report(
                        point.report,
                        settings,
                        progress=bar.update,
                        index=i,
                        total=len(report.points),
                    ),
                )
                for i, point in enumerate(report.points)
            )
        report = replace(report, points=points)
    emit(render_sweep(report, format), output)


def render_sweep(report: SweepReport, format: Format) -> Any:
    from sepconv_cli.analysis import sweep as core

    if format is Format.json:
        return core.sweep_json(report)
    if format is Format.csv:
        return core.sweep_csv(report)
    if format is Format.markdown:
        return core.sweep_markdown(report)
    return sweep_table(report)


def sweep_table(report: SweepReport) -> RenderableType:
    """One row per value (human units; exact counts in the other formats), then the chart."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from sepconv_cli.analysis.sweep import describe_base, value_text
    from sepconv_cli.output.csv import timing_columns
    from sepconv_cli.units import human

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
    footer = Text(
        "Ratio = separable / standard MACs. Theory = 1/Cout + 1/prod(k), exact when "
        "the depth multiplier and groups are 1.\nMACs = multiply-accumulates (bias "
        "not counted). Separable = depthwise k×k then pointwise 1×1.",
        style="dim",
    )
    return Group(table, footer, Text(""), sweep_chart(report))


def sweep_chart(report: SweepReport) -> RenderableType:
    """The ratio per value as horizontal bars on one scale, with the asymptote marked."""
    from rich.text import Text

    from sepconv_cli.analysis.sweep import CHART_WIDTH, bar_suffix, chart, limit_text

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
