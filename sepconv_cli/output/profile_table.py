"""The Rich table of ``sepconv profile``: one row per layer, the totals, and the footer.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the fitting to
the terminal's width is :mod:`sepconv_cli.output.fit`, the rows a terminal shows of a long
model :mod:`sepconv_cli.output.subset`.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.text import Text

from sepconv_cli.counting import conventions
from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.liveness import Peak
from sepconv_cli.counting.report import (
    LayerReport,
    ProfileReport,
    SeparableCost,
    activation_line,
    peak_ratio,
    peak_text,
    weights_line,
)
from sepconv_cli.execution.certainty import (
    MIN_RUNS,
    conditions_of,
    fewest_runs,
    runs_text,
    summary_lines,
)
from sepconv_cli.execution.runtimes.base import runtime_label
from sepconv_cli.names import shown
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, is_terminal, narrow, shorten
from sepconv_cli.output.formats import SEP_STD
from sepconv_cli.output.graph_notes import graph_footer
from sepconv_cli.output.int8_notes import profile_int8_text
from sepconv_cli.output.subset import Subset, largest, rows_that_fit
from sepconv_cli.output.tables import better_style
from sepconv_cli.units import human, seconds_cell, shape_cell, speedup_cell

_NOTE_LINES = 3  # the note on the rows left out, at 80 columns

_SHORT_TYPES = {
    "inverted_residual": "inv_res",
    "squeeze_excite": "se",
    "global_pool": "gpool",
    "separable": "sep",
    "depthwise": "dw",
    "pointwise": "pw",
}


def _bar(share: float, width: int = 6) -> str:
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])).ljust(width)


def profile_table(report: ProfileReport) -> ProfileTable:
    """One row per layer: both forms side by side, the ratio and each layer's share of the
    MACs, and (timed) the measured times.

    Narrower than its full width, the table lets go of, in this order: the share bar (the
    percentage stays), the output shapes, the parameter columns, the types, the row numbers,
    then the middle of long layer names and the MAC share; a step no longer needed once a
    later one is taken comes back (:mod:`sepconv_cli.output.fit`). Never left out: the layer,
    its × repeat count, the MACs of both forms, the ratio and the times, and (shown only when
    some row's measurements took fewer than 5 samples) the Runs column. In a terminal, a
    model with more rows than fit shows its largest rows (:mod:`sepconv_cli.output.subset`)."""
    return ProfileTable(report)


@dataclass(frozen=True)
class ProfileTable:
    """The profile as printed: the table (every row, or in a terminal the rows that fit),
    the note on rows left out, and the footer. ``show_all``: every row anywhere."""

    report: ProfileReport
    show_all: bool = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        footer = _profile_footer(self.report)
        layers = list(self.report.layers)
        note: Text | None = None
        if not self.show_all and is_terminal(console):
            other = self._other_lines(console, options, footer)
            if len(layers) > rows_that_fit(options.size.height, other):
                subset = largest(
                    layers,
                    rows_that_fit(options.size.height, other + _NOTE_LINES),
                    weight=lambda lr: lr.as_specified.macs,
                    key=None if self.report.timing is not None else _alike,
                )
                layers = [_grouped(unit.members) for unit in subset.units]
                note = _subset_note(subset, self.report.totals.as_specified.macs)
        yield self.table() if note is None else _table(self.report, layers)
        if note is not None:
            yield note
        yield footer

    @functools.cached_property
    def _every_row(self) -> FitTable:
        return _table(self.report, self.report.layers)

    def table(self) -> FitTable:
        """The table of every row (built once: measured, then printed)."""
        return self._every_row

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        whole = Group(self.table(), _profile_footer(self.report))
        return Measurement.get(console, options, whole)

    def _other_lines(self, console: Console, options: ConsoleOptions, footer: Text) -> int:
        """The lines everything but the layer rows takes at this width (the table's
        title, header, rules and totals, a width note, the prompt), the subset note aside."""
        # top, header, rule, section rule, totals, bottom; the width note (one or two
        # lines at 80 columns); the prompt after the output
        frame = 6 + 2 + 1
        title = len(console.render_lines(Text(_title(self.report)), options, pad=False))
        written = len(console.render_lines(footer, options, pad=False))
        return frame + title + written


def _alike(layer: LayerReport) -> Hashable:
    """What makes two rows identical: the same type and activation, and the same operations
    (shapes, kernels, strides, padding, groups) in every form. The counts follow from them;
    the names and the repeat count do not enter (a group adds the repeats up)."""
    row = layer.row
    return (row.type, row.activation, row.inner_activation, row.forms)


def _grouped(members: tuple[LayerReport, ...]) -> LayerReport:
    """Identical rows as one: the first row's index, both ends' names, every count added
    (the × column counts the layers)."""
    first = members[0]
    if len(members) == 1:
        return first
    zero = Cost()
    repeat = sum(m.row.repeat for m in members)
    return replace(
        first,
        row=replace(first.row, name=f"{first.row.name} … {members[-1].row.name}", repeat=repeat),
        as_specified=sum((m.as_specified for m in members), zero),
        standard=sum((m.standard for m in members), zero),
        separable=SeparableCost(
            total=sum((m.separable.total for m in members), zero),
            depthwise=sum((m.separable.depthwise for m in members), zero),
            pointwise=sum((m.separable.pointwise for m in members), zero),
            other=sum((m.separable.other for m in members), zero),
        ),
    )


def _subset_note(subset: Subset[LayerReport], total_macs: int) -> Text:
    shown = len(subset.units)
    text = (
        f"{subset.total_rows:,} rows shown as {shown}: the largest by MACs as specified, "
        "in model order"
        + ("; identical layers share a row (× counts them)" if subset.grouped else "")
        + "."
    )
    if subset.left_out_rows:
        share = subset.left_out_weight / total_macs if total_macs else 0.0
        text += (
            f" Left out: {subset.left_out_rows:,} rows with {share:.1%} of the MACs "
            f"({subset.left_out_weight:,})."
        )
    text += " Totals cover every row; --all lists them all."
    return Text(text, style="yellow")


def _title(report: ProfileReport) -> str:
    model = report.model
    return (
        f"{shown(model.name)}: input {shape_cell(model.input_shape)}, batch {model.batch}, "
        f"{model.dtype}"
        + (f", width ×{float(model.width_multiplier):g}" if model.width_multiplier != 1 else "")
    )


def _table(report: ProfileReport, layers: Sequence[LayerReport]) -> FitTable:
    """The table of ``layers`` (all of the model's, or the subset shown) and the model's
    totals."""
    timed = report.timing is not None
    # int8: each row's float32 speed-up from the same run, beside its int8 one
    int8 = report.timing is not None and report.timing.float32 is not None
    table = FitTable(
        title=_title(report),
        steps=(
            narrow("share", label="the share bar"),
            *([drop("f32_speedup")] if int8 else []),
            drop("output"),
            drop("std_params", "sep_params"),
            drop("type"),
            drop("index"),
            shorten("layer", 12),
            drop("share"),
            shorten("layer", 6),
        ),
    )
    table.add_column("index", "#", min_width=3)
    table.add_column("layer", "Layer", justify="left", name=True)
    table.add_column("repeat", "×")
    table.add_column("type", "Type", justify="left", min_width=7)
    table.add_column("output", "Output", justify="left", min_width=10)
    for key, name in (("std_macs", "Std MACs"), ("sep_macs", "Sep MACs"), ("ratio", SEP_STD)):
        table.add_column(key, name)
    if timed:
        for key, name in (("std_ms", "Std ms"), ("sep_ms", "Sep ms"), ("speedup", "Speed-up")):
            table.add_column(key, name)
        if int8:
            table.add_column("f32_speedup", "f32 ×")
    # only when some row rests on fewer than MIN_RUNS samples; in no step: never left out
    few = timed and any(lr.timing is not None and lr.timing.few_runs for lr in report.layers)
    if few:
        table.add_column("runs", "Runs")
    table.add_column("std_params", "Std params")
    table.add_column("sep_params", "Sep params")
    table.add_column("share", "MACs %", justify="left", min_width=13)
    total_macs = report.totals.as_specified.macs or 1
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        table.add_row(*_layer_cells(layer, total_macs, timed, few, int8), end_section=i == last)
    std, sep = report.totals.standard, report.totals.separable
    ratio_total = Fraction(sep.macs, std.macs) if std.macs else None
    bold = "bold"
    total: list[Cell | Both] = [
        "",
        Text("Total", style=bold),
        "",
        "",
        "",
        Text(human(std.macs), style=bold),
        Text(human(sep.macs), style=f"bold {better_style(sep.macs, std.macs)}".strip()),
        Text(f"{float(ratio_total):.3f}" if ratio_total is not None else "-", style=bold),
    ]
    if timed and report.timing is not None:
        t = report.timing
        total += [
            Text(_plain_ms(t.standard_s), style=bold),
            Text(
                _plain_ms(t.separable_s),
                style=f"bold {better_style(t.separable_s, t.standard_s)}".strip(),
            ),
            Text(speedup_cell(t.speedup), style=bold),
            *([Text(speedup_cell(t.float32.speedup), style=bold)] if t.float32 else []),
            *([""] if few else []),
        ]
    total += [
        Text(human(std.params), style=bold),
        Text(human(sep.params), style=f"bold {better_style(sep.params, std.params)}".strip()),
        "",
    ]
    table.add_row(*total)
    return table


def _layer_cells(
    layer: LayerReport, total_macs: int, timed: bool, few: bool = False, int8: bool = False
) -> list[Cell | Both]:
    row = layer.row
    share = layer.as_specified.macs / total_macs
    ratio = layer.ratio_macs
    sep_macs = layer.separable.total.macs
    sep_params = layer.separable.total.params
    cells: list[Cell | Both] = [
        str(row.index),
        row.name,
        f"{row.repeat:,}" if row.repeat > 1 else "",
        _SHORT_TYPES.get(row.type, row.type),
        shape_cell(row.output_shape),
        human(layer.standard.macs),
        Text(human(sep_macs), style=better_style(sep_macs, layer.standard.macs)),
        f"{float(ratio):.3f}" if ratio is not None else "-",
    ]
    if timed:
        cols = timing_columns(layer.timing)
        timing = layer.timing
        # ! a part slower than its whole, ~ noisy (certainty.py); the footer says which
        mark = (
            "" if timing is None else " !" if timing.inconsistent else " ~" if timing.noisy else ""
        )
        cells += [
            _plain_ms(cols["standard_median_s"]),
            Text(_plain_ms(cols["separable_median_s"]), style=_faster(cols)),
            (speedup_cell(cols["speedup"]) + mark) if timing else "not run",
        ]
        if int8:
            base = timing.float32 if timing is not None else None
            cells.append(speedup_cell(base.speedup) if base is not None else "-")
        if few:
            runs = fewest_runs(timing) if timing is not None else None
            cells.append(
                ""
                if runs is None
                else Text(runs_text(runs), style="yellow")
                if runs < MIN_RUNS
                else str(runs)
            )
    cells += [
        human(layer.standard.params),
        Text(human(sep_params), style=better_style(sep_params, layer.standard.params)),
        Both(
            Text(f"{_bar(share)} {share:5.1%}", style="cyan"),
            Text(f"{share:5.1%}", style="cyan"),
        ),
    ]
    return cells


def _faster(cols: dict[str, Any]) -> str:
    std, sep = cols["standard_median_s"], cols["separable_median_s"]
    if isinstance(std, (int, float)) and isinstance(sep, (int, float)):
        return better_style(sep, std)
    return ""


def _plain_ms(value: float | None) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value * 1e3:.2f}" if value < 10 else f"{value * 1e3:,.0f}"


def _profile_footer(report: ProfileReport) -> Text:
    t = report.totals

    def line(label: str, cost: Cost, peak: Peak) -> str:
        # MACs and the peak together: where separating lowers one and raises the other
        bn = f" (incl. {cost.bn_params:,} batch-norm)" if cost.bn_params else ""
        return (
            f"{label}: {cost.macs:,} MACs, {cost.params:,} params{bn}; "
            f"peak activations {peak_text(peak, shown)}\n"
        )

    text = Text(style="dim")
    text.append(line("As specified ", t.as_specified, t.peaks[0]), style="")
    text.append(line("All standard ", t.standard, t.peaks[1]))
    text.append(line("All separable", t.separable, t.peaks[2]))
    text.append(weights_line(t, report.model.weights_dtype) + "\n")
    acts = activation_line(
        t.activation_function_flops, [f for lr in report.layers for f in lr.row.activations]
    )
    if acts:
        text.append(acts + ".\n")
    text.append(conventions.PROFILE_FORMS_FOOTER)
    text.append(graph_footer(report.model), style="")
    if t.standard.macs:
        text.append(
            f"Separable / standard: {t.separable.macs / t.standard.macs:.4f} of the MACs,"
            f" {t.separable.params / max(t.standard.params, 1):.4f} of the params"
            f"{peak_ratio(t)}"
            ".\n"
        )
    timing = report.timing
    if timing is not None:
        predicted = t.standard.macs / t.separable.macs if t.separable.macs else 0
        text.append(
            f"Measured ({runtime_label(timing.runtime)}, medians): all standard "
            f"{seconds_cell(timing.standard_s)}, "
            f"all separable {seconds_cell(timing.separable_s)}, as specified "
            f"{seconds_cell(timing.as_specified_s)}: speed-up {speedup_cell(timing.speedup)} for "
            f"{predicted:.1f}× fewer MACs.\n",
            style="bold",
        )
        text.append(profile_int8_text(timing, report.layers))
        rows = [
            (shown(lr.row.name), lr.timing, lr.row.repeat)
            for lr in report.layers
            if lr.timing is not None
        ]
        timings = [t for _, t, _ in rows]
        for doubt in summary_lines(rows, conditions_of(timings)):
            text.append(doubt + "\n", style="yellow")
        if timing.layers_not_timed:
            text.append(
                f"{timing.layers_not_timed} layer(s) not run (over the memory limit, or an "
                "operation no kernel executes: each row's note says which): their times "
                "count as 0 above.\n",
                style="yellow",
            )
    from sepconv_cli.output.roofline_note import footer_line  # the ceilings' source

    text.append(footer_line(report.machine))
    text.append(conventions.PROFILE_COUNTS_FOOTER)
    return text
