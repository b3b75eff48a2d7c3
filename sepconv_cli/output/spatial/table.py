"""A spatial analysis as a Rich renderable for the terminal.

Rule: the only spatial module that imports Rich (``render`` imports it only for the table
format); its words come from ``cells.py``, shared with markdown.
"""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from sepconv_cli.analysis.spatial.model import Analysis
from sepconv_cli.output.spatial.cells import (
    fmt_vector,
    forms_rows,
    matrix_text,
    summary_line,
    timing_rows,
    timing_title,
)


def spatial_table(a: Analysis) -> RenderableType:
    """Kernel, rank and factors, then every form's cost, then the timing (when measured)."""
    k1, k2 = a.kernel.shape
    params = ", ".join(f"{k} {v:.4g}" for k, v in a.kernel.parameters.items())
    head = Text(
        f"{a.kernel.name}: {k1}×{k2} kernel ({a.kernel.source}"
        + (f", {params}" if params else "")
        + ")",
        style="bold",
    )
    parts: list[RenderableType] = [head]
    if k1 <= 16 and k2 <= 16:
        parts.append(_Matrix(matrix_text(a.kernel.matrix), k1, k2))
    else:
        parts.append(Text(f"({k1}×{k2} weights not shown; --format json lists them)", style="dim"))
    parts.append(Text(""))
    parts.append(Text(summary_line(a), style="green" if a.separable else "yellow"))
    shown = ", ".join(f"{s:.4g}" for s in a.singular_values[:10])
    more = ", …" if len(a.singular_values) > 10 else ""
    parts.append(
        Text(
            f"Singular values: {shown}{more}\nRank tolerance: {a.tolerance:.3g} = "
            f"{a.tolerance_rule}",
            style="dim",
        )
    )

    factors = Table(
        title="Separable terms (K = Σ scale · column ⊗ row)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
    )
    # numbers stay whole (no_wrap); the vectors wrap between their numbers when narrow
    for name in ("Term", "σ", "Scale"):
        factors.add_column(name, justify="right", no_wrap=True)
    for name in ("Column", "Row"):
        factors.add_column(name, justify="left", overflow="fold")
    for f in a.factors[:12]:
        factors.add_row(
            str(f.term),
            f"{f.singular_value:.4g}",
            f.scale_text,
            fmt_vector(f.column),
            fmt_vector(f.row),
        )
    if len(a.factors) > 12:
        factors.add_row("…", "", "", f"{len(a.factors) - 12} more terms (--format json)", "")
    parts += [Text(""), factors]

    forms = Table(
        title="Cost per output pixel",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
    )
    forms.add_column("Form", overflow="fold")
    for name in ("Rel. error", "Mults", "Adds", "Predicted speed-up"):
        forms.add_column(name, justify="right", no_wrap=True)
    for i, row in enumerate(forms_rows(a)):
        style = "green" if i == a.rank else ""
        forms.add_row(*row, style=style)
    parts += [
        forms,
        Text(
            "Rel. error = ||K - K_r||_F / ||K||_F of the best rank-r approximation "
            "(SVD). Mults = multiplications (one per tap, zeros included); adds = "
            "n - 1 per sum of n products. Speed-up = full mults / form mults.",
            style="dim",
        ),
    ]
    if a.timing is not None:
        timed = Table(
            title=timing_title(a.timing),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            header_style="bold",
        )
        timed.add_column("Form", overflow="fold")
        for name in ("Median", "Min–max", "Speed-up", "Predicted"):
            timed.add_column(name, justify="right", no_wrap=True)
        timed.add_column("Output vs full", overflow="fold")
        for cells in timing_rows(a):
            timed.add_row(*cells)
        parts += [Text(""), timed]
    return Group(*parts)


class _Matrix:
    """The kernel's weights, one row a line; when a row is wider than the console, a line
    saying where they are instead (a row wrapped onto two lines reads as two rows)."""

    def __init__(self, text: str, rows: int, columns: int) -> None:
        self.text = text
        self.shape = (rows, columns)
        self.width = max(len(line) for line in text.splitlines())

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, self.width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.width <= options.max_width:
            yield Text(self.text)
            return
        rows, columns = self.shape
        yield Text(
            f"({rows}×{columns} weights: {self.width} columns wide, not shown at "
            f"{options.max_width}; --format json lists them)",
            style="dim",
        )
