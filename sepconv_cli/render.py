"""Rich tables for people. The only module (with cli.py's consoles) that imports Rich.

Functions return renderables; ``cli.py`` decides where they are printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import prod
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .cost import Conv, Cost
from .report import LayerReport, ProfileReport
from .serialize import fmt_ratio, human, human_bytes, timing_columns

_METRICS: tuple[tuple[str, str], ...] = (
    ("Multiplications (MACs)", "macs"),
    ("FLOPs", "flops"),
    ("Parameters", "params"),
    ("Weight bytes", "weight_bytes"),
    ("Activation bytes", "activation_bytes"),
    ("FLOPs per byte moved", "arithmetic_intensity"),
)


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(n) for n in shape)


def _exact(value: int | float, key: str) -> Text:
    if key == "arithmetic_intensity":
        return Text(f"{value:.2f}")
    text = Text(f"{value:,}")
    if key.endswith("bytes") and value >= 1024:
        text.append(f" ({human_bytes(int(value))})", style="dim")
    elif value >= 10_000:
        text.append(f" ({human(value)})", style="dim")
    return text


def _describe_layer(layer: LayerReport) -> str:
    row = layer.row
    conv = next((op for op in row.forms.standard if isinstance(op, Conv)), None)
    parts = [row.type]
    if conv is not None:
        parts.append(f"{_shape(conv.kernel)}")
        parts.append(f"{row.input_shape[-1]}→{row.output_shape[-1]} channels")
        if any(s != 1 for s in conv.stride):
            parts.append(f"stride {_shape(conv.stride)}")
        if any(d != 1 for d in conv.dilation):
            parts.append(f"dilation {_shape(conv.dilation)}")
        if conv.groups != 1:
            parts.append(f"groups {conv.groups}")
    return ", ".join(parts)


def cost_table(layer: LayerReport) -> RenderableType:
    """Standard next to separable (and its two parts) for one layer, with the ratio."""
    row = layer.row
    title = (f"{row.name}: {_describe_layer(layer)}\n"
             f"input {_shape(row.input_shape)} → output {_shape(row.output_shape)}"
             f"  (batch {layer.batch}, {layer.itemsize}-byte values)")
    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    table.add_column("")
    table.add_column("Standard", justify="right")
    table.add_column("Separable", justify="right", style="green")
    table.add_column("= depthwise", justify="right")
    table.add_column("+ pointwise", justify="right")
    table.add_column("Separable / standard", justify="right")
    std, sep = layer.standard, layer.separable
    for label, key in _METRICS:
        values = [getattr(c, key) for c in (std, sep.total, sep.depthwise, sep.pointwise)]
        if key == "arithmetic_intensity":
            ratio_text = "-"
        else:
            ratio = Fraction(values[1], values[0]) if values[0] else None
            ratio_text = fmt_ratio(ratio)
        table.add_row(label, *(_exact(v, key) for v in values), ratio_text)
    return Group(table, _cost_footer(layer), *_timing_block(layer))


def _cost_footer(layer: LayerReport) -> Text:
    lines = Text(style="dim")
    if layer.theory is not None:
        conv = next(op for op in layer.row.forms.standard if isinstance(op, Conv))
        k = prod(conv.kernel)
        lines.append(f"Theory: 1/Cout + 1/prod(k) = 1/{conv.out_channels} + 1/{k} = "
                     f"{float(layer.theory):.4f}", style="")
        measured = layer.ratio_macs
        lines.append("  (the MAC ratio above is exactly this)\n" if measured == layer.theory
                     else f"  (measured ratio {float(measured or 0):.4f})\n")
    lines.append("MACs = multiply-accumulates, bias not counted; FLOPs = 2·MACs (+1 per output "
                 "with bias). Separable = depthwise k×k (multiplier M) then pointwise 1×1.\n"
                 "Bytes: params × itemsize; activations = input + intermediate + output "
                 "tensors. Shapes are channels-last; batch multiplies activation counts.")
    return lines


def _timing_block(layer: LayerReport) -> list[RenderableType]:
    if not layer.timing:
        return []
    cols = timing_columns(layer.timing)
    table = Table(title="Measured on this machine (NumPy, median of repeats)",
                  title_justify="left", header_style="bold")
    for name in ("Standard", "Separable", "= depthwise", "+ pointwise", "Speed-up",
                 "MAC ratio predicts"):
        table.add_column(name, justify="right")
    predicted = layer.ratio_macs
    table.add_row(_ms(cols["standard_median_s"]), _ms(cols["separable_median_s"]),
                  _ms(cols["depthwise_median_s"]), _ms(cols["pointwise_median_s"]),
                  _x(cols["speedup"]), _x(float(1 / predicted)) if predicted else "-")
    return [Text(""), table]


def _ms(value: Any) -> str:
    return f"{value * 1e3:.3f} ms" if isinstance(value, (int, float)) else "-"


def _x(value: Any) -> str:
    return f"{value:.2f}×" if isinstance(value, (int, float)) else "-"


def _bar(share: float, width: int = 10) -> str:
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])).ljust(width)


def profile_table(report: ProfileReport) -> RenderableType:
    """One row per layer: both forms side by side, the ratio and each layer's share."""
    model = report.model
    timed = any(layer.timing for layer in report.layers)
    title = (f"{model.name}: input {_shape(model.input_shape)}, batch {model.batch}, "
             f"{model.dtype}" + (f", width ×{float(model.width_multiplier):g}"
                                 if model.width_multiplier != 1 else ""))
    table = Table(title=title, title_justify="left", header_style="bold", show_footer=False)
    for name, justify in (("#", "right"), ("Layer", "left"), ("Type", "left"),
                          ("Output", "left"), ("Std MACs", "right"), ("Sep MACs", "right"),
                          ("Std params", "right"), ("Sep params", "right"),
                          ("Ratio", "right"), ("Share of MACs", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if timed:
        for name in ("Std ms", "Sep ms", "Speed-up"):
            table.add_column(name, justify="right")
    total_macs = report.totals.as_specified.macs or 1
    for layer in report.layers:
        row = layer.row
        share = layer.as_specified.macs / total_macs
        ratio = layer.ratio_macs
        cells: list[str | Text] = [
            str(row.index),
            row.name + (f" ×{row.repeat}" if row.repeat > 1 else ""),
            row.type,
            _shape(row.output_shape),
            human(layer.standard.macs),
            Text(human(layer.separable.total.macs), style="green"),
            human(layer.standard.params),
            Text(human(layer.separable.total.params), style="green"),
            f"{float(ratio):.3f}" if ratio is not None else "-",
            Text(f"{_bar(share)} {share:5.1%}", style="cyan"),
        ]
        if timed:
            cols = timing_columns(layer.timing or {})
            cells += [_ms(cols["standard_median_s"]).removesuffix(" ms"),
                      _ms(cols["separable_median_s"]).removesuffix(" ms"), _x(cols["speedup"])]
        table.add_row(*cells)
    table.add_section()
    totals = report.totals
    for label, cost, style in (("Total as specified", totals.as_specified, "bold"),
                               ("Total, all standard", totals.standard, "bold"),
                               ("Total, all separable", totals.separable, "bold green")):
        table.add_row("", Text(label, style=style), "", "", "", "",
                      Text(human(cost.macs) + " MACs", style=style),
                      Text(human(cost.params) + " params", style=style), "", "",
                      *([""] * 3 if timed else []))
    return Group(table, _profile_footer(report))


def _profile_footer(report: ProfileReport) -> Text:
    t = report.totals

    def line(label: str, cost: Cost) -> str:
        bn = f" (incl. {cost.bn_params:,} batch-norm)" if cost.bn_params else ""
        return f"{label}: {cost.macs:,} MACs, {cost.params:,} params{bn}\n"

    text = Text(style="dim")
    text.append(line("As specified ", t.as_specified), style="")
    text.append(line("All standard ", t.standard))
    text.append(line("All separable", t.separable))
    if t.standard.macs:
        text.append(f"Separable / standard: {t.separable.macs / t.standard.macs:.4f} of the MACs,"
                    f" {t.separable.params / max(t.standard.params, 1):.4f} of the params.\n")
    text.append("MACs = multiply-accumulates (bias not counted); params include batch-norm "
                "scale and shift where declared. ×n = n identical repeats in one row.")
    return text
