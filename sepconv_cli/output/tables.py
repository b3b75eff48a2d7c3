"""Rich tables for people: the cost, profile, presets and machine reports.

Functions return renderables; the command emits them (``cli/options.emit``). Modules that
draw Rich tables (this one, ``compare_table``) are imported only when the table format is
asked for (see :mod:`sepconv_cli.output.reports`), so the other formats never load Rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import prod
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.counting import conventions
from sepconv_cli.counting.ops import Conv, Cost
from sepconv_cli.counting.report import LayerReport, ProfileReport
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.markdown import machine_rows
from sepconv_cli.units import fmt_ratio, human, human_bytes, seconds_cell, shape_cell, speedup_cell

if TYPE_CHECKING:
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.execution.records import FormTiming
    from sepconv_cli.spec.presets import Preset

_METRICS: tuple[tuple[str, str], ...] = (
    ("MACs", "macs"),
    ("FLOPs", "flops"),
    ("Parameters", "params"),
    ("Weight bytes", "weight_bytes"),
    ("Activation bytes", "activation_bytes"),
    ("FLOPs / byte", "arithmetic_intensity"),
)
_SHORT_TYPES = {
    "inverted_residual": "inv_res",
    "global_pool": "gpool",
    "separable": "sep",
    "depthwise": "dw",
    "pointwise": "pw",
}


def _exact(value: int | float, key: str, with_unit: bool) -> Text:
    """The exact count, and (for the two totals columns) the same in human units."""
    if key == "arithmetic_intensity":
        return Text(f"{value:.2f}")
    text = Text(f"{value:,}")
    if with_unit and key.endswith("bytes") and value >= 1024:
        text.append(f" ({human_bytes(int(value))})", style="dim")
    elif with_unit and value >= 1_000_000:
        text.append(f" ({human(value)})", style="dim")
    return text


def _describe_layer(layer: LayerReport) -> str:
    row = layer.row
    conv = next((op for op in row.forms.standard if isinstance(op, Conv)), None)
    parts = [row.type]
    if conv is not None:
        parts.append(f"{shape_cell(conv.kernel)}")
        parts.append(f"{row.input_shape[-1]}→{row.output_shape[-1]} channels")
        if any(s != 1 for s in conv.stride):
            parts.append(f"stride {shape_cell(conv.stride)}")
        if any(d != 1 for d in conv.dilation):
            parts.append(f"dilation {shape_cell(conv.dilation)}")
        if conv.groups != 1:
            parts.append(f"groups {conv.groups}")
    return ", ".join(parts)


def cost_table(layer: LayerReport) -> RenderableType:
    """Standard next to separable (and its two parts) for one layer, with the ratio."""
    row = layer.row
    title = (
        f"{row.name}: {_describe_layer(layer)}\n"
        f"input {shape_cell(row.input_shape)} → output {shape_cell(row.output_shape)}"
        f"  (batch {layer.batch}, {layer.itemsize}-byte values)"
    )
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("", no_wrap=True)
    table.add_column("Standard", justify="right", no_wrap=True)
    table.add_column("Separable", justify="right", style="green", no_wrap=True)
    table.add_column("= depthwise", justify="right", no_wrap=True)
    table.add_column("+ pointwise", justify="right", no_wrap=True)
    table.add_column("Separable / standard", justify="right", no_wrap=True)
    std, sep = layer.standard, layer.separable
    for label, key in _METRICS:
        values = [getattr(c, key) for c in (std, sep.total, sep.depthwise, sep.pointwise)]
        if key == "arithmetic_intensity":
            ratio_text = "-"
        else:
            ratio = Fraction(values[1], values[0]) if values[0] else None
            ratio_text = fmt_ratio(ratio)
        table.add_row(label, *(_exact(v, key, i < 2) for i, v in enumerate(values)), ratio_text)
    return Group(table, _cost_footer(layer), *_timing_block(layer))


def _cost_footer(layer: LayerReport) -> Text:
    lines = Text(style="dim")
    if layer.theory is not None:
        conv = next(op for op in layer.row.forms.standard if isinstance(op, Conv))
        k = prod(conv.kernel)
        lines.append(
            f"Theory: 1/Cout + 1/prod(k) = 1/{conv.out_channels} + 1/{k} = "
            f"{float(layer.theory):.4f}",
            style="",
        )
        measured = layer.ratio_macs
        lines.append(
            "  (the MAC ratio above is exactly this)\n"
            if measured == layer.theory
            else f"  (measured ratio {float(measured or 0):.4f})\n"
        )
    lines.append(conventions.COST_FOOTER)
    return lines


def _timing_block(layer: LayerReport) -> list[RenderableType]:
    """Measured medians with their spread, and why the speed-up falls short of the MACs."""
    timing = layer.timing
    if timing is None:
        return [Text(layer.note, style="yellow")] if layer.note else []
    table = Table(
        title="Measured on this machine (NumPy, seeded random data)",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for name in (
        "Form",
        "Median",
        "Min – max",
        "Runs",
        "GFLOP/s",
        "Share of MACs",
        "Share of time",
    ):
        table.add_column(name, justify="left" if name == "Form" else "right", no_wrap=True)
    sep_time = timing.separable.median_s or 0.0
    sep_macs = layer.separable.total.macs or 1
    rows: tuple[tuple[str, FormTiming, int | None], ...] = (
        ("Standard", timing.standard, None),
        ("Separable", timing.separable, None),
        ("  = depthwise", timing.depthwise, layer.separable.depthwise.macs),
        ("  + pointwise", timing.pointwise, layer.separable.pointwise.macs),
    )
    for label, part, macs in rows:
        if not part.runs:
            continue
        share_t = f"{part.median_s / sep_time:.0%}" if macs is not None and sep_time else ""
        table.add_row(
            label,
            seconds_cell(part.median_s),
            f"{seconds_cell(part.min_s)} – {seconds_cell(part.max_s)}",
            str(part.runs),
            f"{part.gflops:.1f}",
            f"{macs / sep_macs:.0%}" if macs is not None else "",
            share_t,
        )
    predicted = layer.ratio_macs
    speedup = timing.speedup
    summary = Text()
    if predicted:
        summary.append(f"Measured speed-up {speedup:.2f}× ", style="bold")
        summary.append(f"vs {float(1 / predicted):.2f}× fewer MACs.")
        dw = timing.depthwise.median_s
        mac_share = layer.separable.depthwise.macs / sep_macs
        if dw and sep_time and mac_share and dw / sep_time > 1.5 * mac_share:
            summary.append(
                f" The depthwise part does {mac_share:.0%} of the separable MACs in "
                f"{dw / sep_time:.0%} of its time: it moves bytes more than it computes "
                "(memory-bound).",
                style="dim",
            )
    if timing.noisy:
        summary.append(
            f"\nNoisy: the median of {', '.join(timing.noisy)} is over 1.5× its fastest "
            "run (other programs, or BLAS threads waking late); try --threads 1, "
            "a longer --time-budget or a quieter machine.",
            style="yellow",
        )
    return [Text(""), table, summary]


def _bar(share: float, width: int = 6) -> str:
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])).ljust(width)


def profile_table(report: ProfileReport) -> RenderableType:
    """One row per layer: both forms side by side, the ratio and each layer's share of the
    MACs. Timed, the parameter columns give way to measured times (params stay in the
    footer, the JSON and the CSV) so the table fits 120 columns."""
    model = report.model
    timed = report.timing is not None
    title = (
        f"{model.name}: input {shape_cell(model.input_shape)}, batch {model.batch}, "
        f"{model.dtype}"
        + (f", width ×{float(model.width_multiplier):g}" if model.width_multiplier != 1 else "")
    )
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("#", justify="right", no_wrap=True, min_width=3)
    table.add_column("Layer", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("×", justify="right", no_wrap=True)
    table.add_column("Type", no_wrap=True, min_width=7)
    table.add_column("Output", no_wrap=True, min_width=10)
    numbers = ("Std MACs", "Sep MACs", "Ratio") + (
        ("Std ms", "Sep ms", "Speed-up") if timed else ("Std params", "Sep params")
    )
    for name in numbers:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("MAC share", no_wrap=True, min_width=13)
    total_macs = report.totals.as_specified.macs or 1
    for layer in report.layers:
        row = layer.row
        share = layer.as_specified.macs / total_macs
        ratio = layer.ratio_macs
        cells: list[str | Text] = [
            str(row.index),
            row.name,
            f"{row.repeat:,}" if row.repeat > 1 else "",
            _SHORT_TYPES.get(row.type, row.type),
            shape_cell(row.output_shape),
            human(layer.standard.macs),
            Text(human(layer.separable.total.macs), style="green"),
            f"{float(ratio):.3f}" if ratio is not None else "-",
        ]
        if timed:
            cols = timing_columns(layer.timing)
            mark = " ~" if layer.timing is not None and layer.timing.noisy else ""
            cells += [
                _plain_ms(cols["standard_median_s"]),
                Text(_plain_ms(cols["separable_median_s"]), style="green"),
                (speedup_cell(cols["speedup"]) + mark) if layer.timing else "not run",
            ]
        else:
            cells += [
                human(layer.standard.params),
                Text(human(layer.separable.total.params), style="green"),
            ]
        cells.append(Text(f"{_bar(share)} {share:5.1%}", style="cyan"))
        table.add_row(*cells)
    table.add_section()
    std, sep = report.totals.standard, report.totals.separable
    ratio_total = Fraction(sep.macs, std.macs) if std.macs else None
    bold, green = "bold", "bold green"
    total: list[str | Text] = [
        "",
        Text("Total", style=bold),
        "",
        "",
        "",
        Text(human(std.macs), style=bold),
        Text(human(sep.macs), style=green),
        Text(f"{float(ratio_total):.3f}" if ratio_total is not None else "-", style=bold),
    ]
    if timed and report.timing is not None:
        t = report.timing
        total += [
            Text(_plain_ms(t.standard_s), style=bold),
            Text(_plain_ms(t.separable_s), style=green),
            Text(speedup_cell(t.speedup), style=bold),
        ]
    else:
        total += [Text(human(std.params), style=bold), Text(human(sep.params), style=green)]
    table.add_row(*total, "")
    return Group(table, _profile_footer(report))


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
    text.append(conventions.PROFILE_FORMS_FOOTER)
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


def cost_tables(layers: Sequence[LayerReport]) -> RenderableType:
    parts: list[RenderableType] = []
    for i, layer in enumerate(layers):
        if i:
            parts.append(Text(""))
        parts.append(cost_table(layer))
    return Group(*parts)


def presets_table(items: Sequence[Preset]) -> RenderableType:
    table = Table(
        title="Built-in models (sepconv profile NAME)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("Name", no_wrap=True)
    table.add_column("Description")
    for preset in items:
        table.add_row(preset.name, preset.description)
    return table


def machine_table(info: Machine) -> RenderableType:
    table = Table(
        title="This machine", title_justify="left", box=box.SIMPLE_HEAD, show_header=False
    )
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in machine_rows(info):
        table.add_row(key, value)
    return table
