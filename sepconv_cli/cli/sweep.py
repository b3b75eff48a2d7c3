"""``sepconv sweep``: vary one parameter of a conv layer; a table and a terminal chart.

The command only parses its flags (``--vary`` by ``spec.vary``), runs the sweep
(``analysis.sweep``: ``run_sweep``, then ``time_points`` with ``--time``) and emits one
rendering (``output.reports.render_sweep``). A timed point carries its timing record in its
``LayerReport``; the JSON writes it and the table shows the measured columns.
"""

from __future__ import annotations

from typing import Annotated

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
    DilationOption,
    DtypeOption,
    FiltersOption,
    FormatOption,
    GroupsOption,
    InputOption,
    KernelOption,
    LayerFlags,
    MaxMemoryOption,
    MultiplierOption,
    OutputOption,
    PaddingOption,
    QuietNoGatesOption,
    StrideOption,
    ThreadsOption,
    TimeBudgetOption,
)
from sepconv_cli.cli.timing_flags import timing_from_flags
from sepconv_cli.counting.conventions import SWEEP_HELP_PREFIX
from sepconv_cli.errors import UsageError
from sepconv_cli.output.files import check_output_path
from sepconv_cli.output.reports import SWEEP, render_sweep
from sepconv_cli.spec.fields import channels_first_hint

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()

VARY_HELP = (
    "NAME=VALUES, the one parameter to vary: filters, kernel, input (full shapes), size "
    "(spatial size, channels from --input), depth_multiplier (or multiplier), stride. "
    "VALUES: a comma-separated list of values (16,32,64 · 3x5 · 8x8x32) and inclusive "
    "ranges 1..9, with a step 1..9:2 or a factor 8..512:x2. [default: filters=8..1024:x2]"
)


@app.command(
    cls=SepconvCommand,
    short_help="Vary one layer parameter: how the MAC ratio saturates.",
    epilog=SWEEP_HELP_PREFIX + CONVENTIONS_HELP + "\n\n" + EXIT_CODES_NO_GATES_HELP,
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
    max_memory: MaxMemoryOption = None,
    format: FormatOption = None,
    output: OutputOption = None,
    quiet: QuietNoGatesOption = False,
) -> None:
    """Vary one parameter of a conv layer: standard vs separable MACs, params and their
    ratio, as a table and a chart, so the saturation of 1/Cout + 1/k² shows at a glance.

    With no flags: the 12x12x3, 5x5 example with 8, 16, ..., 1024 filters; the ratio falls
    towards 1/25 and no further.
    """
    Messages.quiet = quiet
    if output is not None:
        check_output_path(output)
    chosen = SWEEP.choose(format, output)
    from sepconv_cli.analysis.sweep import run_sweep, time_points
    from sepconv_cli.spec.vary import DEFAULT_VARY, parse_vary

    texts = vary or [DEFAULT_VARY]
    if len(texts) > 1:
        raise UsageError(
            f"--vary: one parameter at a time (got {len(texts)}: "
            f"{', '.join(t.partition('=')[0] for t in texts)})"
        )
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
    settings = timing_from_flags(time, threads, time_budget, max_memory, off_hint="add --time")
    if input is not None and (hint := channels_first_hint(input)):
        Messages.note(f"sepconv: note: --input {input}: {hint}")
    report = run_sweep(parse_vary(texts[0]), given, common)
    if settings is not None:
        with ProgressBar("timing", enabled=not chosen.for_programs) as bar:
            report = time_points(report, settings, progress=bar.update)
    emit(render_sweep(report, chosen), output)
