"""Rich tables for people: the cost, profile, presets and machine reports.

Functions return renderables; the command emits them (``cli/options.emit``). Modules that
draw Rich tables (this one, ``compare_table``) are imported only when the table format is
asked for (see :mod:`sepconv_cli.output.reports`), so the other formats never load Rich.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import prod
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sepconv_cli.counting import conventions
from sepconv_cli.counting.cost import Cost
from sepconv_cli.counting.ops import Conv
from sepconv_cli.counting.report import LayerReport, ProfileReport, activation_line
from sepconv_cli.execution.overhead import OVERHEAD_FLOOR_S
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, narrow, shorten
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
    "squeeze_excite": "se",
    "global_pool": "gpool",
    "separable": "sep",
    "depthwise": "dw",
    "pointwise": "pw",
}


def _exact(value: int | float, key: str) -> Cell:
    """The exact count."""
    if key == "arithmetic_intensity":
        return f"{value:.2f}"
    return f"{value:,}"


def _exact_and_human(value: int | float, key: str, style: str = "") -> Both:
    """The exact count, and in the wide rendering the same in human units (dim)."""
    exact = Text(str(_exact(value, key)), style=style)
    wide = exact.copy()
    if key.endswith("bytes") and key != "arithmetic_intensity" and value >= 1024:
        wide.append(f" ({human_bytes(int(value))})", style="dim")
    elif key != "arithmetic_intensity" and value >= 1_000_000:
        wide.append(f" ({human(value)})", style="dim")
    return Both(wide, exact)


def better_style(separable: int | float, standard: int | float) -> str:
    """Green where the separable form costs less, red where it costs more, plain when equal
    (a 1×1 conv, a dense layer)."""
    return "green" if separable < standard else "red" if separable > standard else ""


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
        # the standard form is dense: the groups are the layer's as written
        written = next((op for op in row.forms.as_specified if isinstance(op, Conv)), None)
        if row.type == "conv" and written is not None and written.groups != 1:
            parts.append(f"groups {written.groups}")
        multiplier = _depth_multiplier(layer)
        if multiplier != 1:
            parts.append(f"depth multiplier {multiplier}")
        if conv.bias:
            parts.append("bias")
    return ", ".join(parts)


def _depth_multiplier(layer: LayerReport) -> int:
    """M of the separable form's depthwise conv (Cin → Cin·M); 1 when it has none."""
    for op in layer.row.forms.separable:
        if isinstance(op, Conv) and op.role == "depthwise" and op.in_channels:
            return op.out_channels // op.in_channels
    return 1


def _is_one_by_one(layer: LayerReport) -> bool:
    conv = next((op for op in layer.row.forms.standard if isinstance(op, Conv)), None)
    return conv is not None and prod(conv.kernel) == 1


def cost_table(layer: LayerReport) -> RenderableType:
    """Standard next to separable (and its two parts) for one layer, with the ratio; first
    the layer as specified when it is neither form (a grouped convolution).

    Narrower than its full width, the ratio loses its "× fewer" text, then the totals
    columns their human units, then the depthwise and pointwise columns go, then the as
    specified column (see :mod:`sepconv_cli.output.fit`); the exact counts always stay
    whole."""
    row = layer.row
    apart = row.forms.as_specified_apart
    title = (
        f"{row.name}: {_describe_layer(layer)}\n"
        f"input {shape_cell(row.input_shape)} → output {shape_cell(row.output_shape)}"
        f"  (batch {layer.batch}, {layer.itemsize}-byte values)"
    )
    totals = ("as_specified", "standard", "separable") if apart else ("standard", "separable")
    table = FitTable(
        title=title,
        steps=(
            narrow("ratio", label="the × fewer text"),
            narrow(*totals, label="human units"),
            drop("depthwise", "pointwise"),
            *((drop("as_specified"),) if apart else ()),
        ),
    )
    table.add_column("metric", "", justify="left")
    if apart:
        table.add_column("as_specified", "As specified")
    table.add_column("standard", "Standard")
    table.add_column("separable", "Separable")
    table.add_column("depthwise", "= depthwise")
    table.add_column("pointwise", "+ pointwise")
    table.add_column("ratio", "Separable / standard", narrow_header="Sep / std")
    std, sep = layer.standard, layer.separable
    for label, key in _METRICS:
        values = [getattr(c, key) for c in (std, sep.total, sep.depthwise, sep.pointwise)]
        ratio_cell: Cell | Both = "-"
        if key != "arithmetic_intensity":
            ratio = Fraction(values[1], values[0]) if values[0] else None
            ratio_cell = Both(
                fmt_ratio(ratio), f"{float(ratio):.4f}" if ratio else fmt_ratio(ratio)
            )
        # a higher FLOPs / byte is the better one: the colour compares costs only
        style = "" if key == "arithmetic_intensity" else better_style(values[1], values[0])
        written = [_exact_and_human(getattr(layer.as_specified, key), key)] if apart else []
        table.add_row(
            label,
            *written,
            _exact_and_human(values[0], key),
            _exact_and_human(values[1], key, style),
            _exact(values[2], key),
            _exact(values[3], key),
            ratio_cell,
        )
    notes: list[RenderableType] = []
    if _is_one_by_one(layer):
        notes.append(Text(conventions.ONE_BY_ONE.footer + "."))
    if apart:
        notes.append(Text(conventions.FORMS.short + "."))
    if row.form == "depthwise":
        notes.append(Text(conventions.DEPTHWISE_NOTE))
    return Group(table, *notes, _cost_footer(layer), *_timing_block(layer))


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
    acts = activation_line(layer.activation_function_flops, [layer.row.activation])
    if acts:
        lines.append(acts + ".\n", style="")
    lines.append(conventions.COST_FOOTER)
    return lines


def _timing_block(layer: LayerReport) -> list[RenderableType]:
    """Measured medians with their spread, and why the speed-up falls short of the MACs."""
    timing = layer.timing
    if timing is None:
        return [Text(layer.note, style="yellow")] if layer.note else []
    table = FitTable(
        title="Measured on this machine (NumPy, seeded random data)",
        steps=(
            narrow("mac_share", "time_share", label="long headers"),
            drop("runs"),
            drop("range"),
            drop("gflops"),
        ),
    )
    table.add_column("form", "Form", justify="left")
    table.add_column("median", "Median")
    table.add_column("range", "Min – max")
    table.add_column("runs", "Runs")
    table.add_column("gflops", "GFLOP/s")
    table.add_column("mac_share", "Share of MACs", narrow_header="MACs %")
    table.add_column("time_share", "Share of time", narrow_header="Time %")
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
        if dw and dw < OVERHEAD_FLOOR_S:
            # a part this short is mostly NumPy's per-call overhead: naming a bound from it
            # would teach the wrong lesson (execution/overhead.py states the rule)
            summary.append(
                f" The depthwise part takes {seconds_cell(dw)}: too short to tell memory "
                "traffic from per-call overhead; time a larger layer to see the bound.",
                style="dim",
            )
        elif dw and sep_time and mac_share and dw / sep_time > 1.5 * mac_share:
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
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")  # long paths fold, never end in …
    for key, value in machine_rows(info):
        table.add_row(key, value)
    return table
