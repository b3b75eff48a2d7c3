"""The Rich table of ``sepconv compare``: totals, then the layers that changed.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the JSON and
markdown renderings, and the value and delta cells this table shares with them, are in
:mod:`sepconv_cli.output.compare_formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.text import Text

from sepconv_cli.analysis.compare import LABELS, Comparison, Delta
from sepconv_cli.output.compare_formats import fmt_delta, fmt_value
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, narrow, shorten

# the status column's narrow rendering, stated in the note when it is used
_MARKS = {"matched": "", "added": "+", "removed": "-"}


def compare_table(result: Comparison) -> RenderableType:
    """Totals first, then the layers that changed (unchanged ones are counted, not listed).

    Narrower than its full width, the table lets go of, in this order: the base columns (new
    and Δ give them back), the status words (a + or - mark stays: added, removed), the
    middle of long layer names down to 12 characters, the new columns, then more of the
    names (:mod:`sepconv_cli.output.fit`). The Δ columns are never left out."""
    title = f"{result.base.label} → {result.new.label}" + (
        ""
        if result.base.model == result.new.model
        else f"  ({result.base.model} vs {result.new.model})"
    )
    metrics = result.metrics
    table = FitTable(
        title=title,
        steps=(
            drop(*(f"{m}_base" for m in metrics)),
            narrow("status", label="status words"),
            shorten("layer", 12),
            drop(*(f"{m}_new" for m in metrics)),
            shorten("layer", 6),
        ),
    )
    table.add_column("layer", "Layer", justify="left", name=True)
    table.add_column("status", "Status", justify="left", narrow_header="")
    for metric in metrics:
        table.add_column(f"{metric}_base", f"{LABELS[metric]} base")
        table.add_column(f"{metric}_new", f"{LABELS[metric]} new")
        table.add_column(f"{metric}_delta", f"Δ {LABELS[metric]}")
    unchanged = 0
    changed = []
    for change in result.changes:
        if change.status == "matched" and not any(change.delta(m).absolute for m in metrics):
            unchanged += 1
            continue
        changed.append(change)
    for i, change in enumerate(changed):
        table.add_row(
            change.name,
            Both(change.status, _MARKS[change.status]),
            *_delta_cells(metrics, change.delta, ""),
            end_section=i == len(changed) - 1,
        )
    table.add_row(Text("Total", style="bold"), "", *_delta_cells(metrics, result.total, "bold "))
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
) -> list[Cell | Both]:
    """Base, new and a coloured Δ per metric (red: grew, green: shrank)."""
    cells: list[Cell | Both] = []
    for metric in metrics:
        delta = delta_of(metric)
        style = emphasis + ("red" if (delta.absolute or 0) > 0 else "green")
        cells += [
            fmt_value(metric, delta.base),
            fmt_value(metric, delta.new),
            Text(fmt_delta(metric, delta), style=style),
        ]
    return cells
