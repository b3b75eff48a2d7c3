"""The Rich table of ``sepconv cost``: one layer's forms side by side, its footer, and (timed)
the measured block.

Imported only for the table format (see :mod:`sepconv_cli.output.reports`); the fitting to
the terminal's width is :mod:`sepconv_cli.output.fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import prod

from rich.console import Group, RenderableType
from rich.text import Text

from sepconv_cli.counting import conventions
from sepconv_cli.counting.ops import Conv
from sepconv_cli.counting.report import LayerReport, activation_line
from sepconv_cli.execution.certainty import MIN_RUNS, layer_lines, runs_text
from sepconv_cli.execution.overhead import OVERHEAD_FLOOR_S
from sepconv_cli.execution.records import Part
from sepconv_cli.execution.runtimes.base import runtime_label
from sepconv_cli.names import shown
from sepconv_cli.output.fit import Both, Cell, FitTable, drop, narrow
from sepconv_cli.output.int8_notes import layer_int8_text
from sepconv_cli.output.tables import better_style
from sepconv_cli.units import fmt_ratio, human, human_bytes, seconds_cell, shape_cell

_METRICS: tuple[tuple[str, str], ...] = (
    ("MACs", "macs"),
    ("FLOPs", "flops"),
    ("Parameters", "params"),
    ("Weight bytes", "weight_bytes"),
    ("Activation bytes", "activation_bytes"),
    ("FLOPs / byte", "arithmetic_intensity"),
)


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
        f"{shown(row.name)}: {_describe_layer(layer)}\n"
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
    table.add_column("ratio", "Separable / standard", narrow_header="Sep/std")
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
        if key == "activation_bytes":  # what must be alive at once, beside what is made
            table.add_row(*_peak_cells(layer, apart))
    notes: list[RenderableType] = []
    if _is_one_by_one(layer):
        notes.append(Text(conventions.ONE_BY_ONE.footer + "."))
    if apart:
        notes.append(Text(conventions.FORMS.short + "."))
    if row.form == "depthwise":
        notes.append(Text(conventions.DEPTHWISE_NOTE))
    return Group(table, *notes, _cost_footer(layer), *_timing_block(layer))


def _peak_cells(layer: LayerReport, apart: bool) -> list[Cell | Both]:
    """The row of the layer's peak activation bytes (liveness) in each form; its parts
    are steps of one walk, not forms of their own (blank)."""
    written, std, sep = layer.live_bytes
    ratio = Fraction(sep, std) if std else None
    return [
        "Peak activations",
        *([_exact_and_human(written, "live_bytes")] if apart else []),
        _exact_and_human(std, "live_bytes"),
        _exact_and_human(sep, "live_bytes", better_style(sep, std)),
        "",
        "",
        Both(fmt_ratio(ratio), f"{float(ratio):.4f}" if ratio else fmt_ratio(ratio)),
    ]


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
            "  (the Sep/std above is exactly this)\n"
            if measured == layer.theory
            else f"  (measured ratio {float(measured or 0):.4f})\n"
        )
    acts = activation_line(layer.activation_function_flops, [layer.row.activation])
    if acts:
        lines.append(acts + ".\n", style="")
    lines.append(conventions.COST_FOOTER)
    lines.append(f"\n{conventions.PEAK_MEMORY.footer}, of the layer on its own.")
    return lines


def _timing_block(layer: LayerReport) -> list[RenderableType]:
    """Measured medians with their spread, and why the speed-up falls short of the MACs."""
    timing = layer.timing
    if timing is None:
        return [Text(shown(layer.note), style="yellow")] if layer.note else []
    table = FitTable(
        title=f"Measured on this machine ({runtime_label(timing.runtime)}, seeded random data)",
        # Runs is in no step: a time resting on one sample says so at every width
        steps=(
            narrow("mac_share", "time_share", label="long headers"),
            drop("range"),
            drop("gflops"),
        ),
    )
    baseline = timing.float32
    table.add_column("form", "Form", justify="left")
    table.add_column("median", "Median" if baseline is None else "int8")
    if baseline is not None:  # int8 beside the float32 timing of the same run
        table.add_column("float32", "float32")
        table.add_column("int8_speedup", "int8 gain", narrow_header="Gain")
    table.add_column("range", "Min – max")
    table.add_column("runs", "Runs")
    table.add_column("gflops", "GFLOP/s" if baseline is None else "GOP/s")
    table.add_column("mac_share", "Share of MACs", narrow_header="MACs %")
    table.add_column("time_share", "Share of time", narrow_header="Time %")
    sep_macs = layer.separable.total.macs or 1
    rows: tuple[tuple[str, Part, int | None], ...] = (
        ("Standard", "standard", None),
        ("Separable", "separable", None),
        ("  = depthwise", "depthwise", layer.separable.depthwise.macs),
        ("  + pointwise", "pointwise", layer.separable.pointwise.macs),
    )
    # each part's share of the parts' summed time, beside its share of the MACs: the parts
    # are timed on their own, so on a runtime that fuses or pays a per-call cost their sum
    # is not the whole separable form's time, and shares of that would not add up to 100 %
    parts_time = timing.depthwise.median_s + timing.pointwise.median_s
    gains = timing.int8_speedups()
    for label, name, macs in rows:
        part = timing.part(name)
        if not part.runs:
            continue
        share_t = f"{part.median_s / parts_time:.0%}" if macs is not None and parts_time else ""
        flag = " !" if name in timing.inconsistent else " ~" if name in timing.noisy else ""
        beside: list[Cell] = []
        if baseline is not None:
            gain = gains.get(name)
            beside = [
                seconds_cell(baseline.part(name).median_s),
                "" if gain is None else f"{gain:.2f}×",
            ]
        table.add_row(
            label + flag,
            seconds_cell(part.median_s),
            *beside,
            f"{seconds_cell(part.min_s)} – {seconds_cell(part.max_s)}",
            _runs_cell(part.runs),
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
        if timing.uncertain:
            summary.append(" Uncertain: see below.", style="yellow")
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
        elif dw and parts_time and mac_share and dw / parts_time > 1.5 * mac_share:
            summary.append(
                f" The depthwise part does {mac_share:.0%} of the separable MACs in "
                f"{dw / parts_time:.0%} of its time: it moves bytes more than it computes "
                "(memory-bound).",
                style="dim",
            )
    summary.append(layer_int8_text(timing))
    summary.append(certainty_text(layer))
    return [Text(""), table, summary]


def _runs_cell(runs: int) -> Cell | Text:
    """The sample count; below MIN_RUNS, ``1 run`` in yellow (certainty.py's rule)."""
    if runs >= MIN_RUNS:
        return str(runs)
    return Text(runs_text(runs), style="yellow")


def certainty_text(layer: LayerReport) -> Text:
    """Why one layer's times are uncertain and what would help (empty when they are
    sure), one line each (:func:`sepconv_cli.execution.certainty.layer_lines`)."""
    text = Text(style="yellow")
    if layer.timing is not None:
        for line in layer_lines(layer.timing, layer.row.repeat):
            text.append("\n" + line)
    return text


def cost_tables(layers: Sequence[LayerReport]) -> RenderableType:
    parts: list[RenderableType] = []
    for i, layer in enumerate(layers):
        if i:
            parts.append(Text(""))
        parts.append(cost_table(layer))
    return Group(*parts)
