"""The Rich table of ``sepconv compare``: totals, then the layers that changed.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the JSON and
markdown renderings, and the value and delta cells this table shares with them, are in
:mod:`sepconv_cli.output.compare_formats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.text import Text

from sepconv_cli.analysis.compare import LABELS, Comparison, Delta, LayerChange
from sepconv_cli.names import shown
from sepconv_cli.output.compare_formats import fmt_delta, fmt_value
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, is_terminal, narrow, shorten
from sepconv_cli.output.subset import Subset, largest, rows_that_fit

# the status column's narrow rendering, stated in the note when it is used
_MARKS = {"matched": "", "added": "+", "removed": "-"}


def compare_table(result: Comparison) -> CompareTable:
    """Totals first, then the layers that changed (unchanged ones are counted, not listed).

    Narrower than its full width, the table lets go of, in this order: the base columns (new
    and Δ give them back), the status words (a + or - mark stays: added, removed), the
    middle of long layer names down to 12 characters, the new columns, then more of the
    names (:mod:`sepconv_cli.output.fit`). The Δ columns are never left out. In a terminal,
    more changed layers than fit show the largest changes in MACs
    (:mod:`sepconv_cli.output.subset`; no grouping: each row is its own change)."""
    return CompareTable(result)


@dataclass(frozen=True)
class CompareTable:
    """The comparison as printed; ``show_all``: every changed layer anywhere (``--all``)."""

    result: Comparison
    show_all: bool = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        result, metrics = self.result, self.result.metrics
        changed = _changed(result, self.show_all)
        after = _after(result, len(result.changes) - len(_changed(result, True)), _free(result))
        if self.show_all:
            after = _after(result, len(result.changes) - len(changed), [])
        shown, note = changed, None
        if not self.show_all and is_terminal(console):
            # title, the table's frame and totals (6), the width note (2), the prompt and
            # the lines under the table; with a subset, its note (3) too
            other = 1 + 6 + 2 + 1 + len(console.render_lines(after, options, pad=False))
            if len(changed) > rows_that_fit(options.size.height, other):
                fit = rows_that_fit(options.size.height, other + 3)
                subset = largest(changed, fit, weight=lambda c: _size(c, metrics[0]))
                shown = [unit.members[0] for unit in subset.units]
                note = _subset_note(subset, sum(_size(c, metrics[0]) for c in changed), metrics)
        yield _table(result, shown)
        if note is not None:
            yield note
        yield after

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        changed = _changed(self.result, self.show_all)
        unchanged = len(self.result.changes) - len(_changed(self.result, True))
        free = [] if self.show_all else _free(self.result)
        whole = Group(_table(self.result, changed), _after(self.result, unchanged, free))
        return Measurement.get(console, options, whole)


def _costless(change: LayerChange, metrics: Sequence[str]) -> bool:
    """A row only one model has whose every metric is 0 on both sides: an elementwise or
    shape node a model file writes out where a spec folds it into a layer's activation."""
    return change.status in ("added", "removed") and not any(
        change.delta(m).base or change.delta(m).new for m in metrics
    )


def _free(result: Comparison) -> list[LayerChange]:
    return [c for c in result.changes if _costless(c, result.metrics)]


def _changed(result: Comparison, every: bool = False) -> list[LayerChange]:
    """The layers listed: added, removed, or with some metric changed; an added or removed
    row that costs nothing in any metric only with ``every`` (``--all``): the line under
    the table counts them."""
    return [
        c
        for c in result.changes
        if (c.status != "matched" or any(c.delta(m).absolute for m in result.metrics))
        and (every or not _costless(c, result.metrics))
    ]


def _size(change: LayerChange, metric: str) -> int:
    """How big a change is: its |Δ| of ``metric`` (whole units: the ranking only)."""
    return round(abs(change.delta(metric).absolute or 0))


def _subset_note(subset: Subset[LayerChange], total: int, metrics: Sequence[str]) -> Text:
    label = LABELS[metrics[0]]
    text = (
        f"{subset.total_rows:,} changed rows shown as {len(subset.units)}: the largest "
        f"changes in {label}, in model order."
    )
    if subset.left_out_rows:
        share = subset.left_out_weight / total if total else 0.0
        text += (
            f" Left out: {subset.left_out_rows:,} rows with {share:.1%} of the change in "
            f"{label} (Δ counted without its sign)."
        )
    text += " Totals cover every layer; --all lists them all."
    return Text(text, style="yellow")


def _after(result: Comparison, unchanged: int, free: Sequence[LayerChange]) -> Group:
    """The lines under the table: the unchanged count, the rows of no cost only one model
    has (not listed), and the verdict."""
    note = Text(
        f"{unchanged} unchanged layer{'s' if unchanged != 1 else ''} not listed. "
        "Values are the models as specified.",
        style="dim",
    )
    if free:
        added = sum(c.status == "added" for c in free)
        note.append(
            f"\n{len(free) - added} removed and {added} added rows of 0 "
            f"{' and 0 '.join(LABELS[m] for m in result.metrics)} not listed (elementwise "
            "and shape nodes one model writes out and the other folds into a layer; --all "
            "lists them)."
        )
    verdict = (
        Text("\n".join(f"✗ {shown(f)}" for f in result.failures), style="bold red")
        if result.failures
        else Text("")
    )
    return Group(note, verdict)


def _table(result: Comparison, changed: Sequence[LayerChange]) -> FitTable:
    base, new = result.base, result.new
    title = f"{shown(base.label)} → {shown(new.label)}" + (
        "" if base.model == new.model else f"  ({shown(base.model)} vs {shown(new.model)})"
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
    for i, change in enumerate(changed):
        table.add_row(
            change.name,
            Both(change.status, _MARKS[change.status]),
            *_delta_cells(metrics, change.delta, ""),
            end_section=i == len(changed) - 1,
        )
    table.add_row(Text("Total", style="bold"), "", *_delta_cells(metrics, result.total, "bold "))
    return table


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
