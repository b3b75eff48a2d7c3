"""``sepconv sweep``: vary one parameter of a conv layer; a table and a terminal chart.

The command only parses its flags (``--vary`` by ``spec.vary``), runs the sweep
(``analysis.sweep``: ``run_sweep``, then ``time_points`` with ``--time``) and emits one
rendering (``output.reports.render_sweep``). A timed point carries its timing record in its
``LayerReport``; the JSON writes it and the table shows the measured columns.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sepconv_cli.cli.console import Messages, ProgressBar, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import (
    CONVENTIONS_HELP,
    EXIT_CODES_NO_GATES_HELP,
    ActivationOption,
    BatchNormOption,
    BatchOption,
    BiasOption,
    DeviceOption,
    DilationOption,
    DtypeOption,
    FiltersOption,
    FormatOption,
    GroupsOption,
    InputOption,
    KernelOption,
    LayerFlags,
    LayoutOption,
    MaxMemoryOption,
    MultiplierOption,
    OrtOptimizationOption,
    OutputOption,
    PaddingOption,
    QuietNoGatesOption,
    RuntimeOption,
    StrideOption,
    ThreadsOption,
    TimeBudgetOption,
)
from sepconv_cli.cli.timing_flags import timing_from_flags
from sepconv_cli.counting.conventions import SWEEP_HELP_PREFIX
from sepconv_cli.errors import UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.reports import SWEEP, render_grid, render_sweep
from sepconv_cli.spec.flags import merge_batch, read_input_flag

if TYPE_CHECKING:
    from sepconv_cli.analysis.grid import GridReport
    from sepconv_cli.execution.timing import TimingSettings
    from sepconv_cli.output.formats import Format
    from sepconv_cli.spec.vary import Vary

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

VARY_HELP = (
    "NAME=VALUES, a parameter to vary: filters, kernel, input (full shapes), size "
    "(spatial size, channels from --input), depth_multiplier (or multiplier), stride. "
    "VALUES: a comma-separated list of values (16,32,64 · 3x5 · 8x8x32) and inclusive "
    "ranges 1..9, with a step 1..9:2 or a factor 8..512:x2. Repeat --vary for a grid: "
    "every combination, the last --vary changing fastest (at most 100,000 points). "
    "[default: filters=8..1024:x2]"
)
METRIC_HELP = (
    "What a grid's pivot cells show (two --vary; table, markdown and --plot): ratio "
    "(separable/standard MACs), params-ratio, fewer (standard/separable MACs) or speedup "
    "(needs --time). JSON and CSV carry them all. [default: ratio]"
)
PLOT_HELP = (
    "Draw a grid of two --vary as a heat map of --metric (.png, .svg or .pdf). Needs "
    "matplotlib: pip install 'sepconv[plot]'."
)


@app.command(
    cls=SepconvCommand,
    short_help="Vary layer parameters: how the MAC ratio saturates.",
    epilog=SWEEP_HELP_PREFIX + CONVENTIONS_HELP + "\n\n" + EXIT_CODES_NO_GATES_HELP,
)
def sweep(
    vary: Annotated[
        list[str] | None, typer.Option("--vary", "-v", metavar="NAME=VALUES", help=VARY_HELP)
    ] = None,
    input: InputOption = None,
    layout: LayoutOption = None,
    kernel: KernelOption = None,
    filters: FiltersOption = None,
    stride: StrideOption = None,
    padding: PaddingOption = None,
    dilation: DilationOption = None,
    groups: GroupsOption = None,
    depth_multiplier: MultiplierOption = None,
    bias: BiasOption = None,
    batch_norm: BatchNormOption = None,
    activation: ActivationOption = None,
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
    runtime: RuntimeOption = None,
    device: DeviceOption = None,
    ort_optimization: OrtOptimizationOption = None,
    max_memory: MaxMemoryOption = None,
    metric: Annotated[
        str | None, typer.Option("--metric", metavar="METRIC", help=METRIC_HELP)
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE", dir_okay=False, help=PLOT_HELP)
    ] = None,
    format: FormatOption = None,
    output: OutputOption = None,
    quiet: QuietNoGatesOption = False,
) -> None:
    """Vary one parameter of a conv layer: standard vs separable MACs, params and their
    ratio, as a table and a chart, so the saturation of 1/Cout + 1/k² shows at a glance.

    With no flags: the 12x12x3, 5x5 example with 8, 16, ..., 1024 filters; the ratio falls
    towards 1/25 and no further. Several --vary make a grid of every combination: a pivot
    table for two parameters, one row per point for more.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    chosen = SWEEP.choose(format, output)
    from sepconv_cli.analysis.sweep import run_sweep, time_points
    from sepconv_cli.spec.vary import DEFAULT_VARY, parse_grid, parse_vary

    texts = vary or [DEFAULT_VARY]
    if len(texts) == 1 and (metric is not None or plot is not None):
        flag = "--metric" if metric is not None else "--plot"
        raise UsageError(f"{flag}: applies to a grid (two or more --vary); got one --vary")
    given, common = LayerFlags(
        input=input,
        kernel=kernel,
        filters=filters,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        depth_multiplier=depth_multiplier,
        bias=bias,
        batch_norm=batch_norm,
        activation=activation,
        batch=batch,
        dtype=dtype,
    ).split()
    settings = timing_from_flags(
        time,
        threads,
        time_budget,
        max_memory,
        off_hint="add --time",
        runtime=runtime,
        device=device,
        ort_optimization=ort_optimization,
    )
    # --input and --vary input=… are read in --layout's order; the batch a batch-first
    # shape carries is the sweep's
    input_layout = read_input_flag(given, common, layout)
    reader = None if layout is None else input_layout
    axes = parse_grid(texts, reader) if len(texts) > 1 else (parse_vary(texts[0], reader),)
    for axis in axes:
        if axis.batch is not None:
            merge_batch(common, axis.batch, f"--vary {axis.text}")
    if len(axes) > 1:
        _grid(axes, given, common, settings, metric, plot, chosen, output, input_layout)
        return
    report = run_sweep(axes[0], given, common)
    report = replace(report, base={**report.base, "input_layout": input_layout})
    if settings is not None:
        with ProgressBar("timing") as bar:
            report = time_points(report, settings, progress=bar.update)
    emit(render_sweep(report, chosen), output)


def _grid(
    axes: tuple[Vary, ...],
    given: dict[str, Any],
    common: dict[str, Any],
    settings: TimingSettings | None,
    metric: str | None,
    plot: Path | None,
    chosen: Format,
    output: Path | None,
    input_layout: str,
) -> None:
    """Several --vary: the grid of every combination (``analysis.grid``)."""
    from sepconv_cli.analysis.grid import check_timed_grid, run_grid, time_grid
    from sepconv_cli.output.sweep.pivot import DEFAULT_METRIC, METRICS
    from sepconv_cli.spec.layers import did_you_mean

    name = (metric or DEFAULT_METRIC).strip().lower().replace("_", "-")
    if name not in METRICS:
        raise UsageError(
            f"--metric: unknown metric {metric!r}{did_you_mean(name, METRICS)}; expected "
            f"one of {', '.join(METRICS)}"
        )
    if name == "speedup" and settings is None:
        raise UsageError("--metric: speedup is measured: add --time")
    if plot is not None:
        if len(axes) != 2:
            raise UsageError(f"--plot: a heat map needs exactly two --vary (got {len(axes)})")
        from sepconv_cli.output.plot import check_plot_path

        check_output_path(plot, "--plot", others=[("--output", output)])
        check_plot_path(plot)
    if settings is not None:
        check_timed_grid(prod(len(a.values) for a in axes))
        report = _recorded(run_grid(axes, given, common), name, input_layout)
        with ProgressBar("timing") as bar:
            report = time_grid(report, settings, progress=bar.update)
        emit(render_grid(report, chosen), output)
    else:
        # A counted grid is up to 100,000 points of small acyclic objects that all live
        # until the report is written, and writing it allocates only short-lived acyclic
        # ones: the cyclic collector, running again after run_grid, would only traverse
        # every point at its next collection (a tenth of a second at 10,000 points)
        collecting = gc.isenabled()
        gc.disable()
        try:
            report = _recorded(run_grid(axes, given, common), name, input_layout)
            emit(render_grid(report, chosen), output)
        finally:
            if collecting:
                gc.enable()
    if plot is not None:
        from sepconv_cli.output.sweep.heatmap import write_heatmap

        write_heatmap(report, plot)


def _recorded(report: GridReport, metric: str, input_layout: str) -> GridReport:
    """The grid with its ``--metric`` and, in its base layer, the layout ``--input`` was
    read in (the JSON's ``layer.input_layout``)."""
    return replace(report, metric=metric, base={**report.base, "input_layout": input_layout})
