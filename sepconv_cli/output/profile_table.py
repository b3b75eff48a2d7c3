"""The Rich table of ``sepconv profile``: one row per layer, the totals, and the footer.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the fitting to
the terminal's width is :mod:`sepconv_cli.output.fit`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from sepconv_cli.counting import conventions
from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.report import ProfileReport, activation_line
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, narrow, shorten
from sepconv_cli.output.graph_notes import graph_footer
from sepconv_cli.output.tables import better_style
from sepconv_cli.units import human, seconds_cell, shape_cell, speedup_cell

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


def profile_table(report: ProfileReport) -> RenderableType:
    """One row per layer: both forms side by side, the ratio and each layer's share of the
    MACs, and (timed) the measured times.

    Narrower than its full width, the table lets go of, in this order: the share bar (the
    percentage stays), the output shapes, the parameter columns, the types, the row numbers,
    then the middle of long layer names and the MAC share; a step no longer needed once a
    later one is taken comes back (:mod:`sepconv_cli.output.fit`). Never left out: the layer,
    its × repeat count, the MACs of both forms, the ratio and the times."""
    model = report.model
    timed = report.timing is not None
    title = (
        f"{model.name}: input {shape_cell(model.input_shape)}, batch {model.batch}, "
        f"{model.dtype}"
        + (f", width ×{float(model.width_multiplier):g}" if model.width_multiplier != 1 else "")
    )
    table = FitTable(
        title=title,
        steps=(
            narrow("share", label="the share bar"),
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
    for key, name in (("std_macs", "Std MACs"), ("sep_macs", "Sep MACs"), ("ratio", "Ratio")):
        table.add_column(key, name)
    if timed:
        for key, name in (("std_ms", "Std ms"), ("sep_ms", "Sep ms"), ("speedup", "Speed-up")):
            table.add_column(key, name)
    table.add_column("std_params", "Std params")
    table.add_column("sep_params", "Sep params")
    table.add_column("share", "MAC share", justify="left", min_width=13)
    total_macs = report.totals.as_specified.macs or 1
    for layer in report.layers:
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
            mark = " ~" if layer.timing is not None and layer.timing.noisy else ""
            cells += [
                _plain_ms(cols["standard_median_s"]),
                Text(_plain_ms(cols["separable_median_s"]), style=_faster(cols)),
                (speedup_cell(cols["speedup"]) + mark) if layer.timing else "not run",
            ]
        cells += [
            human(layer.standard.params),
            Text(human(sep_params), style=better_style(sep_params, layer.standard.params)),
            Both(
                Text(f"{_bar(share)} {share:5.1%}", style="cyan"),
                Text(f"{share:5.1%}", style="cyan"),
            ),
        ]
        table.add_row(*cells, end_section=layer is report.layers[-1])
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
        ]
    total += [
        Text(human(std.params), style=bold),
        Text(human(sep.params), style=f"bold {better_style(sep.params, std.params)}".strip()),
        "",
    ]
    table.add_row(*total)
    return Group(table, _profile_footer(report))


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

    def line(label: str, cost: Cost) -> str:
        bn = f" (incl. {cost.bn_params:,} batch-norm)" if cost.bn_params else ""
        return f"{label}: {cost.macs:,} MACs, {cost.params:,} params{bn}\n"

    text = Text(style="dim")
    text.append(line("As specified ", t.as_specified), style="")
    text.append(line("All standard ", t.standard))
    text.append(line("All separable", t.separable))
    acts = activation_line(t.activation_function_flops, [lr.row.activation for lr in report.layers])
    if acts:
        text.append(acts + ".\n")
    text.append(conventions.PROFILE_FORMS_FOOTER)
    text.append(graph_footer(report.model), style="")
    if t.standard.macs:
        text.append(
            f"Separable / standard: {t.separable.macs / t.standard.macs:.4f} of the MACs,"
            f" {t.separable.params / max(t.standard.params, 1):.4f} of the params.\n"
        )
    timing = report.timing
    if timing is not None:
        predicted = t.standard.macs / t.separable.macs if t.separable.macs else 0
        text.append(
            f"Measured (NumPy, medians): all standard {seconds_cell(timing.standard_s)}, "
            f"all separable {seconds_cell(timing.separable_s)}, as specified "
            f"{seconds_cell(timing.as_specified_s)}: speed-up {speedup_cell(timing.speedup)} for "
            f"{predicted:.1f}× fewer MACs.\n",
            style="bold",
        )
        noisy = [lr.row.name for lr in report.layers if lr.timing is not None and lr.timing.noisy]
        if noisy:
            text.append(
                f"Noisy measurements (median > 1.5× fastest run) in {len(noisy)} "
                f"layer(s): {', '.join(noisy[:6])}{', …' if len(noisy) > 6 else ''}; "
                "try --threads 1 or a quieter machine.\n",
                style="yellow",
            )
        if timing.layers_not_timed:
            text.append(
                f"{timing.layers_not_timed} layer(s) not run (memory limit): their "
                "times count as 0 above.\n",
                style="yellow",
            )
    from sepconv_cli.output.roofline_note import footer_line  # the ceilings' source

    text.append(footer_line(report.machine))
    text.append(conventions.PROFILE_COUNTS_FOOTER)
    return text
