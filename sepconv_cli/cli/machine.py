"""``sepconv machine``: this machine's measured ceilings (GEMM GFLOP/s, memory bandwidth)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sepconv_cli.cli.options import FormatOption, Messages, QuietOption, ThreadsOption, emit
from sepconv_cli.errors import UsageError
from sepconv_cli.output.serialize import Format

# this command's own Typer app; cli/app.py adds it to the root app (Typer's
# one-file-per-command layout), so no command module imports the root app back
app = typer.Typer()


@app.command()
def machine(
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Measure again instead of reading the cached result.")
    ] = False,
    threads: ThreadsOption = None,
    format: FormatOption = Format.table,
    quiet: QuietOption = False,
) -> None:
    """Measure float32 GEMM GFLOP/s and memory bandwidth (cached per machine), and report
    the CPU, cores and BLAS in use. profile uses these ceilings for its roofline."""
    from sepconv_cli.cli.options import timing_settings_from_flags
    from sepconv_cli.execution.machine import cache_dir, machine_info

    Messages.quiet = quiet
    settings = timing_settings_from_flags(threads, None, None)
    if format is Format.csv:
        raise UsageError("--format: machine supports table, json and markdown")
    if not quiet:
        Messages.note(
            "sepconv: measuring GEMM and memory bandwidth (a few seconds)..."
            if refresh
            else "sepconv: reading or measuring this machine's ceilings"
        )
    info = machine_info(threads=settings.threads, refresh=refresh)
    data = info.as_dict()
    if format is Format.json:
        emit(json.dumps(data, indent=2) + "\n", None)
        return
    blas = info.blas
    blas_text = " ".join(
        str(x)
        for x in (
            blas.get("library"),
            blas.get("version"),
            blas.get("kernel") and f"({blas.get('kernel')})",
        )
        if x
    )
    rows = [
        ("CPU", info.cpu),
        ("Cores", str(info.cores)),
        ("NumPy", info.numpy),
        ("BLAS", blas_text or "unknown"),
        ("BLAS threads", str(blas.get("threads") or info.threads or "default")),
        ("float32 GEMM", f"{info.gemm_gflops:,.1f} GFLOP/s"),
        ("Memory bandwidth (copy)", f"{info.bandwidth_gbs:,.1f} GB/s"),
        (
            "Ridge point",
            f"{info.gemm_gflops / info.bandwidth_gbs:,.1f} FLOPs/byte"
            if info.bandwidth_gbs
            else "-",
        ),
        ("Measured", info.measured_at + (" (cached)" if info.cached else "")),
        ("Cache", str(cache_dir())),
    ]
    if format is Format.markdown:
        emit("| | |\n|:---|:---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows), None)
        return
    from rich import box
    from rich.table import Table

    table = Table(
        title="This machine", title_justify="left", box=box.SIMPLE_HEAD, show_header=False
    )
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in rows:
        table.add_row(key, value)
    emit(table, None)
    Messages.note(
        "Layers whose FLOPs per byte fall below the ridge point are memory-bound: "
        "bandwidth, not arithmetic, sets their best-case time."
    )
