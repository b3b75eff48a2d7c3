"""Rich tables for people. The only module (with cli.py's consoles) that imports Rich.

Functions return renderables; ``cli.py`` decides where they are printed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from math import prod
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.analysis.compare import Comparison, Delta
from sepconv_cli.counting import conventions
from sepconv_cli.counting.ops import Conv, Cost
from sepconv_cli.counting.report import LayerReport, ProfileReport
from sepconv_cli.output.serialize import timing_columns
from sepconv_cli.units import fmt_ratio, human, human_bytes, seconds_cell, shape_cell, speedup_cell

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
    if not timing:
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
    separable = timing.get("separable", {})
    sep_time = separable.get("median_s") or 0.0
    sep_macs = layer.separable.total.macs or 1
    rows = (
        ("Standard", timing.get("standard", {}), None),
        ("Separable", separable, None),
        ("  = depthwise", separable.get("depthwise", {}), layer.separable.depthwise.macs),
        ("  + pointwise", separable.get("pointwise", {}), layer.separable.pointwise.macs),
    )
    for label, part, macs in rows:
        if not part.get("runs"):
            continue
        share_t = f"{part['median_s'] / sep_time:.0%}" if macs is not None and sep_time else ""
        table.add_row(
            label,
            seconds_cell(part.get("median_s")),
            f"{seconds_cell(part.get('min_s'))} – {seconds_cell(part.get('max_s'))}",
            str(part.get("runs", "")),
            f"{part.get('gflops', 0):.1f}",
            f"{macs / sep_macs:.0%}" if macs is not None else "",
            share_t,
        )
    predicted = layer.ratio_macs
    speedup = timing.get("speedup")
    summary = Text()
    if isinstance(speedup, (int, float)) and predicted:
        summary.append(f"Measured speed-up {speedup:.2f}× ", style="bold")
        summary.append(f"vs {float(1 / predicted):.2f}× fewer MACs.")
        dw = separable.get("depthwise", {}).get("median_s")
        mac_share = layer.separable.depthwise.macs / sep_macs
        if dw and sep_time and mac_share and dw / sep_time > 1.5 * mac_share:
            summary.append(
                f" The depthwise part does {mac_share:.0%} of the separable MACs in "
                f"{dw / sep_time:.0%} of its time: it moves bytes more than it computes "
                "(memory-bound).",
                style="dim",
            )
    noisy = timing.get("noisy")
    if noisy:
        summary.append(
            f"\nNoisy: the median of {', '.join(noisy)} is over 1.5× its fastest "
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
            cols = timing_columns(layer.timing or {})
            mark = " ~" if (layer.timing or {}).get("noisy") else ""
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
        speedup = t.get("speedup")
        total += [
            Text(_plain_ms(t.get("standard_s")), style=bold),
            Text(_plain_ms(t.get("separable_s")), style=green),
            Text(speedup_cell(speedup), style=bold),
        ]
    else:
        total += [Text(human(std.params), style=bold), Text(human(sep.params), style=green)]
    table.add_row(*total, "")
    return Group(table, _profile_footer(report))


def _plain_ms(value: Any) -> str:
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
    if timing:
        speedup = timing.get("speedup")
        predicted = t.standard.macs / t.separable.macs if t.separable.macs else 0
        text.append(
            f"Measured (NumPy, medians): all standard {seconds_cell(timing.get('standard_s'))}, "
            f"all separable {seconds_cell(timing.get('separable_s'))}, as specified "
            f"{seconds_cell(timing.get('as_specified_s'))}: speed-up {speedup_cell(speedup)} for "
            f"{predicted:.1f}× fewer MACs.\n",
            style="bold",
        )
        noisy = [lr.row.name for lr in report.layers if (lr.timing or {}).get("noisy")]
        if noisy:
            text.append(
                f"Noisy measurements (median > 1.5× fastest run) in {len(noisy)} "
                f"layer(s): {', '.join(noisy[:6])}{', …' if len(noisy) > 6 else ''}; "
                "try --threads 1 or a quieter machine.\n",
                style="yellow",
            )
        if timing.get("layers_not_timed"):
            text.append(
                f"{timing['layers_not_timed']} layer(s) not run (memory limit): their "
                "times count as 0 above.\n",
                style="yellow",
            )
    text.append(conventions.PROFILE_COUNTS_FOOTER)
    return text


def cost_tables(layers: Sequence[LayerReport]) -> RenderableType:
    parts: list[RenderableType] = []
    for i, layer in enumerate(layers):
        if i:
            parts.append(Text(""))
        parts.append(cost_table(layer))
    return Group(*parts)


def presets_table(items: Sequence[tuple[str, str]]) -> RenderableType:
    table = Table(
        title="Built-in models (sepconv profile NAME)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("Name", no_wrap=True)
    table.add_column("Description")
    for name, description in items:
        table.add_row(name, description)
    return table


def compare_table(result: Comparison) -> RenderableType:
    """Totals first, then the layers that changed (unchanged ones are counted, not listed)."""
    from sepconv_cli.analysis.compare import LABELS

    title = f"{result.base.label} → {result.new.label}" + (
        ""
        if result.base.model == result.new.model
        else f"  ({result.base.model} vs {result.new.model})"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold")
    table.add_column("Layer", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("Status", no_wrap=True)
    for metric in result.metrics:
        table.add_column(f"{LABELS[metric]} base", justify="right", no_wrap=True)
        table.add_column(f"{LABELS[metric]} new", justify="right", no_wrap=True)
        table.add_column("Δ", justify="right", no_wrap=True)
    unchanged = 0
    for change in result.changes:
        if change.status == "matched" and not any(change.delta(m).absolute for m in result.metrics):
            unchanged += 1
            continue
        table.add_row(change.name, change.status, *_delta_cells(result.metrics, change.delta, ""))
    table.add_section()
    table.add_row(
        Text("Total", style="bold"), "", *_delta_cells(result.metrics, result.total, "bold ")
    )
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
) -> list[str | Text]:
    """Base, new and a coloured Δ per metric (red: grew, green: shrank)."""
    from sepconv_cli.output.compare_formats import fmt_delta, fmt_value

    cells: list[str | Text] = []
    for metric in metrics:
        delta = delta_of(metric)
        style = emphasis + ("red" if (delta.absolute or 0) > 0 else "green")
        cells += [
            fmt_value(metric, delta.base),
            fmt_value(metric, delta.new),
            Text(fmt_delta(metric, delta), style=style),
        ]
    return cells
