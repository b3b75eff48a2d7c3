"""``sepconv machine``: this machine's measured ceilings (GEMM GFLOP/s, memory bandwidth)."""

from __future__ import annotations

from typing import Annotated

import typer

from sepconv_cli.cli.console import Messages, emit
from sepconv_cli.cli.help import SepconvCommand
from sepconv_cli.cli.options import QuietNoGatesOption, complete_format, format_help
from sepconv_cli.output.reports import MACHINE, render_machine

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command(
    cls=SepconvCommand, short_help="Measure this machine's GEMM and memory ceilings (cached)."
)
def machine(
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Measure again instead of reading the cached result.")
    ] = False,
    threads: Annotated[
        str | None,
        typer.Option(
            "--threads",
            metavar="N",
            help="BLAS threads for the GEMM measurement; each count has its own cached "
            "result. Use the --threads you time with: profile reads the ceilings measured "
            "at its own count. [default: 1]",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help=format_help("table, json or markdown", output=False),
            autocompletion=complete_format,
        ),
    ] = None,
    quiet: QuietNoGatesOption = False,
) -> None:
    """Measure float32 GEMM GFLOP/s and memory bandwidth (cached per machine), and report
    the CPU, cores and BLAS in use. profile uses these ceilings for its roofline."""
    from sepconv_cli.cli.timing_flags import timing_settings_from_flags
    from sepconv_cli.execution.machine import machine_info

    Messages.quiet = quiet
    settings = timing_settings_from_flags(threads, None, None)
    chosen = MACHINE.choose(format)  # before a measurement that takes seconds
    if not quiet:
        Messages.note(
            "sepconv: measuring GEMM and memory bandwidth (a few seconds)..."
            if refresh
            else "sepconv: reading or measuring this machine's ceilings"
        )
    info = machine_info(threads=settings.threads, refresh=refresh)
    emit(render_machine(info, chosen), None)
    if info.provisional:
        load = f"load {info.load_1m:.1f} on {info.cores} cores" if info.busy else "an unknown load"
        Messages.note(
            f"sepconv: measured under {load}: these ceilings are provisional; the next run "
            "on an idle machine measures them again"
        )
    if note := MACHINE.note(chosen):
        Messages.note(note)
