"""Markdown renderings (for pull requests and notebooks) of the cost, profile, presets and
machine reports. Every function returns a string; none prints. (Compare's markdown is in
``compare_formats``.)

A name (of a model, a layer, a node) is data: every table cell, heading and footer line is
written through :func:`sepconv_cli.names.shown_in_markdown`, so no name ends a row, a cell
or a line, or opens an HTML tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

from sepconv_cli.counting.report import LayerReport, ProfileReport, activation_line, peak_line
from sepconv_cli.names import shown, shown_in_markdown
from sepconv_cli.output.csv import timing_columns
from sepconv_cli.output.formats import SEP_STD, TIMES
from sepconv_cli.output.graph_notes import graph_footer
from sepconv_cli.units import human, ms_number, shape_cell, speedup_cell

if TYPE_CHECKING:
    from sepconv_cli.execution.machine import Machine
    from sepconv_cli.execution.records import LayerTiming
    from sepconv_cli.spec.presets import Preset


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> str:
    """A markdown table; ``align`` has one letter per column, ``l`` left, else right. Every
    cell is written :func:`~sepconv_cli.names.shown_in_markdown` (one line, no ``|`` of its
    own)."""
    lines = [
        "| " + " | ".join(map(shown_in_markdown, header)) + " |",
        "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(map(shown_in_markdown, cells)) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def md_code(text: str, *, cell: bool = True) -> str:
    """``text`` :func:`~sepconv_cli.names.shown` as a markdown code span: fenced by one
    backtick more than its longest run of them (none of its own ends the span); in a table
    ``cell``, each ``|`` escaped, and the backslashes right before it doubled (a table ends
    a cell at a ``|`` not escaped, even inside a code span, and ``\\\\`` is an escaped
    backslash; a code span shows every other backslash as it is)."""
    text = shown(text)
    if cell and "|" in text:
        text = re.sub(r"(\\*)\|", lambda m: m[1] * 2 + "\\|", text)
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cost_markdown(layers: Sequence[LayerReport]) -> str:
    out = []
    for layer in layers:
        row = layer.row
        std, sep = layer.standard, layer.separable
        out.append(
            f"### {shown_in_markdown(row.name)}: {shape_cell(row.input_shape)} → "
            f"{shape_cell(row.output_shape)} (batch {layer.batch})\n"
        )
        metrics = [
            ("MACs", "macs"),
            ("FLOPs", "flops"),
            ("Parameters", "params"),
            ("Weight bytes", "weight_bytes"),
            ("Activation bytes", "activation_bytes"),
        ]
        std_peak, sep_peak = layer.live_bytes[1], layer.live_bytes[2]
        # the layer as written gets a column when it is neither form (a grouped conv)
        apart = row.forms.as_specified_apart
        rows = []
        for label, key in metrics:
            values = [getattr(c, key) for c in (std, sep.total, sep.depthwise, sep.pointwise)]
            ratio = Fraction(values[1], values[0]) if values[0] else None
            written = [f"{getattr(layer.as_specified, key):,}"] if apart else []
            rows.append(
                [
                    label,
                    *written,
                    *(f"{v:,}" for v in values),
                    f"{float(ratio):.4f}" if ratio is not None else "-",
                ]
            )
        rows.append(
            [
                "Peak activations",
                *([f"{layer.live_bytes[0]:,}"] if apart else []),
                f"{std_peak:,}",
                f"{sep_peak:,}",
                "",
                "",
                f"{sep_peak / std_peak:.4f}" if std_peak else "-",
            ]
        )
        header = ["", "Standard", "Separable", "Depthwise", "Pointwise", SEP_STD]
        if apart:
            header.insert(1, "As specified")
        out.append(md_table(header, rows, "l" + "r" * (len(header) - 1)))
        if layer.theory is not None:
            out.append(f"\nTheory: 1/Cout + 1/prod(k) = {float(layer.theory):.4f}\n")
        if layer.timing is not None:
            out.append(timing_markdown(layer.timing))
        out.append("")
    return "\n".join(out)


def timing_markdown(timing: LayerTiming) -> str:
    cols = timing_columns(timing)

    def ms(value: float | None) -> str:
        return f"{value * 1e3:.3f} ms" if isinstance(value, (int, float)) else "-"

    speedup = cols["speedup"]
    return (
        f"\nMeasured (median): standard {ms(cols['standard_median_s'])}, separable "
        f"{ms(cols['separable_median_s'])} (depthwise {ms(cols['depthwise_median_s'])} + "
        f"pointwise {ms(cols['pointwise_median_s'])}), speed-up "
        f"{speedup_cell(speedup)}\n"
    )


def profile_markdown(report: ProfileReport) -> str:
    model = report.model
    head = (
        f"## {shown_in_markdown(model.name)}: standard vs depthwise-separable\n\n"
        f"Input {shape_cell(model.input_shape)}, batch {model.batch}, {model.dtype}"
        + (
            f", width multiplier {float(model.width_multiplier):g}"
            if model.width_multiplier != 1
            else ""
        )
        + "\n\n"
    )
    timed = any(layer.timing for layer in report.layers)
    header = [
        "#",
        "Layer",
        "Type",
        "Output",
        "Std MACs",
        "Sep MACs",
        "Std params",
        "Sep params",
        f"{SEP_STD} MACs",
    ] + (["Std ms", "Sep ms", "Speed-up"] if timed else [])
    rows = []
    for layer in report.layers:
        row = layer.row
        cells = [
            str(row.index),
            row.name + (f" {TIMES}{row.repeat}" if row.repeat > 1 else ""),
            row.type,
            shape_cell(row.output_shape),
            human(layer.standard.macs),
            human(layer.separable.total.macs),
            human(layer.standard.params),
            human(layer.separable.total.params),
            f"{float(layer.ratio_macs):.3f}" if layer.ratio_macs is not None else "-",
        ]
        if timed:
            cols = timing_columns(layer.timing)
            cells += [
                ms_number(cols["standard_median_s"]),
                ms_number(cols["separable_median_s"]),
                speedup_cell(cols["speedup"]),
            ]
        rows.append(cells)
    t = report.totals
    ratio = f"{t.separable.macs / t.standard.macs:.3f}" if t.standard.macs else "-"
    rows.append(
        [
            "",
            "**Total**",
            "",
            "",
            f"**{human(t.standard.macs)}**",
            f"**{human(t.separable.macs)}**",
            f"**{human(t.standard.params)}**",
            f"**{human(t.separable.params)}**",
            f"**{ratio}**",
        ]
        + (["", "", ""] if timed else [])
    )
    table = md_table(header, rows, "llllrrrrr" + ("rrr" if timed else ""))
    exact = (
        f"\nExact totals — as specified: {t.as_specified.macs:,} MACs, "
        f"{t.as_specified.params:,} params; all standard: {t.standard.macs:,} MACs, "
        f"{t.standard.params:,} params; all separable: {t.separable.macs:,} MACs, "
        f"{t.separable.params:,} params.\n"
        f"\n{peak_line(t, model.weights_dtype, shown_in_markdown)}\n"
    )
    acts = activation_line(
        t.activation_function_flops, [f for lr in report.layers for f in lr.row.activations]
    )
    if acts:
        exact += f"\n{acts}.\n"
    graph = graph_footer(report.model)  # a model file's uncounted nodes and findings
    if graph:
        exact += "\n" + "".join(f"{shown_in_markdown(line)}\n" for line in graph.splitlines())
    return head + table + exact


def presets_markdown(items: Sequence[Preset]) -> str:
    return "| Preset | Description |\n|:---|:---|\n" + "".join(
        f"| `{p.name}` | {p.description} |\n" for p in items
    )


def machine_rows(info: Machine) -> list[tuple[str, str]]:
    """What ``sepconv machine`` shows people, one (label, value) a line (the Rich table shows
    the same rows)."""
    from sepconv_cli.execution.machine import cache_dir

    blas = info.blas
    blas_text = " ".join(
        str(x)
        for x in (
            blas.get("library"),
            blas.get("version"),
            blas.get("kernel") and f"({blas.get('kernel')})",
        )
        if x
    )
    return [
        ("CPU", info.cpu),
        ("Cores", str(info.cores)),
        ("NumPy", info.numpy),
        ("BLAS", blas_text or "unknown"),
        ("BLAS threads", str(blas.get("threads") or info.threads or "default")),
        ("float32 GEMM", f"{info.gemm_gflops:,.1f} GFLOP/s"),
        ("Memory bandwidth (copy)", f"{info.bandwidth_gbs:,.1f} GB/s"),
        (
            "Ridge point",
            f"{info.gemm_gflops / info.bandwidth_gbs:,.1f} FLOPs/byte"
            if info.bandwidth_gbs
            else "-",
        ),
        ("Measured", info.measured_at + (" (cached)" if info.cached else "")),
        ("Cache", str(cache_dir())),
    ]


def machine_markdown(info: Machine) -> str:
    return "| | |\n|:---|:---|\n" + "".join(f"| {k} | {v} |\n" for k, v in machine_rows(info))
