"""Machine-readable renderings: JSON (the stable contract), CSV and markdown.

Every function returns a string; none prints. JSON keys are a contract (docs/json.md): add
keys freely, never rename. Counts are exact ints (JSON numbers of any size).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from enum import Enum
from fractions import Fraction
from typing import Any

from sepconv_cli.counting.ops import Cost
from sepconv_cli.counting.report import (
    CONVENTIONS,
    COST_SCHEMA,
    PROFILE_SCHEMA,
    LayerReport,
    ProfileReport,
)
from sepconv_cli.units import human, ms_number, rounded_float, shape_text, speedup_ascii


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def cost_dict(cost: Cost) -> dict[str, int | float]:
    return cost.as_dict()


def layer_dict(layer: LayerReport) -> dict[str, Any]:
    row = layer.row
    separable: dict[str, Any] = cost_dict(layer.separable.total)
    separable["depthwise"] = cost_dict(layer.separable.depthwise)
    separable["pointwise"] = cost_dict(layer.separable.pointwise)
    separable["other"] = cost_dict(layer.separable.other)
    out: dict[str, Any] = {
        "index": row.index,
        "name": row.name,
        "type": row.type,
        "form": row.form,
        "repeat": row.repeat,
        "input_shape": list(row.input_shape),
        "output_shape": list(row.output_shape),
        "batch": layer.batch,
        "as_specified": cost_dict(layer.as_specified),
        "standard": cost_dict(layer.standard),
        "separable": separable,
        "ratio": {
            "macs": rounded_float(layer.ratio_macs),
            "params": rounded_float(layer.ratio_params),
            "theory": rounded_float(layer.theory),
            "theory_exact": (
                f"{layer.theory.numerator}/{layer.theory.denominator}"
                if layer.theory is not None
                else None
            ),
        },
    }
    if layer.timing is not None:
        out["timing"] = layer.timing
    if layer.note:
        out["note"] = layer.note
    return out


def conventions(dtype: str, itemsize: int) -> dict[str, Any]:
    return {**CONVENTIONS, "dtype": dtype, "itemsize": itemsize}


def cost_json(layers: Sequence[LayerReport], dtype: str) -> str:
    itemsize = layers[0].itemsize if layers else 4
    doc = {
        "schema": COST_SCHEMA,
        "conventions": conventions(dtype, itemsize),
        "layers": [layer_dict(layer) for layer in layers],
    }
    return json.dumps(doc, indent=2) + "\n"


def profile_dict(report: ProfileReport) -> dict[str, Any]:
    model = report.model
    itemsize = report.layers[0].itemsize if report.layers else 4
    doc: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "model": model.name,
        "source": model.source,
        "file": model.file,
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "batch": model.batch,
        "dtype": model.dtype,
        "width_multiplier": float(model.width_multiplier),
        "conventions": conventions(model.dtype, itemsize),
        "layers": [layer_dict(layer) for layer in report.layers],
        "totals": {
            "as_specified": cost_dict(report.totals.as_specified),
            "standard": cost_dict(report.totals.standard),
            "separable": cost_dict(report.totals.separable),
        },
        "machine": report.machine,
    }
    if report.timing is not None:
        doc["timing"] = report.timing
    return doc


PRETTY_JSON_LAYERS = 1000


def profile_json(report: ProfileReport) -> str:
    """Indented for people; past PRETTY_JSON_LAYERS layers compact (json's C encoder only
    runs without indentation, and nobody reads 10,000 layers by eye)."""
    if len(report.layers) > PRETTY_JSON_LAYERS:
        return json.dumps(profile_dict(report), separators=(",", ":")) + "\n"
    return json.dumps(profile_dict(report), indent=2) + "\n"


CSV_COLUMNS = (
    "index",
    "name",
    "type",
    "form",
    "repeat",
    "input_shape",
    "output_shape",
    "batch",
    "as_specified_macs",
    "as_specified_params",
    "standard_macs",
    "standard_flops",
    "standard_params",
    "standard_weight_bytes",
    "standard_activation_bytes",
    "separable_macs",
    "separable_flops",
    "separable_params",
    "separable_weight_bytes",
    "separable_activation_bytes",
    "depthwise_macs",
    "pointwise_macs",
    "ratio_macs",
    "ratio_params",
    "theory",
)
TIMING_COLUMNS = (
    "standard_median_s",
    "separable_median_s",
    "depthwise_median_s",
    "pointwise_median_s",
    "speedup",
)


def csv_row(layer: LayerReport) -> dict[str, Any]:
    row = layer.row
    std, sep = layer.standard, layer.separable.total
    out: dict[str, Any] = {
        "index": row.index,
        "name": row.name,
        "type": row.type,
        "form": row.form,
        "repeat": row.repeat,
        "input_shape": shape_text(row.input_shape),
        "output_shape": shape_text(row.output_shape),
        "batch": layer.batch,
        "as_specified_macs": layer.as_specified.macs,
        "as_specified_params": layer.as_specified.params,
        "standard_macs": std.macs,
        "standard_flops": std.flops,
        "standard_params": std.params,
        "standard_weight_bytes": std.weight_bytes,
        "standard_activation_bytes": std.activation_bytes,
        "separable_macs": sep.macs,
        "separable_flops": sep.flops,
        "separable_params": sep.params,
        "separable_weight_bytes": sep.weight_bytes,
        "separable_activation_bytes": sep.activation_bytes,
        "depthwise_macs": layer.separable.depthwise.macs,
        "pointwise_macs": layer.separable.pointwise.macs,
        "ratio_macs": rounded_float(layer.ratio_macs),
        "ratio_params": rounded_float(layer.ratio_params),
        "theory": rounded_float(layer.theory),
    }
    timing = layer.timing or {}
    if timing:
        out.update(timing_columns(timing))
    return out


def timing_columns(timing: dict[str, Any]) -> dict[str, Any]:
    def median(part: dict[str, Any] | None) -> Any:
        return part.get("median_s") if part else None

    separable = timing.get("separable") or {}
    return {
        "standard_median_s": median(timing.get("standard")),
        "separable_median_s": median(separable),
        "depthwise_median_s": median(separable.get("depthwise")),
        "pointwise_median_s": median(separable.get("pointwise")),
        "speedup": timing.get("speedup"),
    }


def layers_csv(layers: Sequence[LayerReport]) -> str:
    columns = list(CSV_COLUMNS)
    if any(layer.timing for layer in layers):
        columns += TIMING_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for layer in layers:
        writer.writerow(csv_row(layer))
    return buffer.getvalue()


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def cost_markdown(layers: Sequence[LayerReport]) -> str:
    out = []
    for layer in layers:
        row = layer.row
        std, sep = layer.standard, layer.separable
        out.append(
            f"### {row.name}: {shape_text(row.input_shape)} → {shape_text(row.output_shape)}"
            f" (batch {layer.batch})\n"
        )
        metrics = [
            ("MACs", "macs"),
            ("FLOPs", "flops"),
            ("Parameters", "params"),
            ("Weight bytes", "weight_bytes"),
            ("Activation bytes", "activation_bytes"),
        ]
        rows = []
        for label, key in metrics:
            values = [getattr(c, key) for c in (std, sep.total, sep.depthwise, sep.pointwise)]
            ratio = Fraction(values[1], values[0]) if values[0] else None
            rows.append(
                [
                    label,
                    *(f"{v:,}" for v in values),
                    f"{float(ratio):.4f}" if ratio is not None else "-",
                ]
            )
        out.append(
            _md_table(
                ["", "Standard", "Separable", "Depthwise", "Pointwise", "Separable / standard"],
                rows,
                "lrrrrr",
            )
        )
        if layer.theory is not None:
            out.append(f"\nTheory: 1/Cout + 1/prod(k) = {float(layer.theory):.4f}\n")
        if layer.timing:
            out.append(timing_markdown(layer.timing))
        out.append("")
    return "\n".join(out)


def timing_markdown(timing: dict[str, Any]) -> str:
    cols = timing_columns(timing)

    def ms(value: Any) -> str:
        return f"{value * 1e3:.3f} ms" if isinstance(value, (int, float)) else "-"

    speedup = cols["speedup"]
    return (
        f"\nMeasured (median): standard {ms(cols['standard_median_s'])}, separable "
        f"{ms(cols['separable_median_s'])} (depthwise {ms(cols['depthwise_median_s'])} + "
        f"pointwise {ms(cols['pointwise_median_s'])}), speed-up "
        f"{f'{speedup:.2f}x' if isinstance(speedup, (int, float)) else '-'}\n"
    )


def profile_markdown(report: ProfileReport) -> str:
    model = report.model
    head = (
        f"## {model.name}: standard vs depthwise-separable\n\n"
        f"Input {shape_text(model.input_shape)}, batch {model.batch}, {model.dtype}"
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
        "MAC ratio",
    ] + (["Std ms", "Sep ms", "Speed-up"] if timed else [])
    rows = []
    for layer in report.layers:
        row = layer.row
        cells = [
            str(row.index),
            row.name + (f" ×{row.repeat}" if row.repeat > 1 else ""),
            row.type,
            shape_text(row.output_shape),
            human(layer.standard.macs),
            human(layer.separable.total.macs),
            human(layer.standard.params),
            human(layer.separable.total.params),
            f"{float(layer.ratio_macs):.3f}" if layer.ratio_macs is not None else "-",
        ]
        if timed:
            cols = timing_columns(layer.timing or {})
            cells += [
                ms_number(cols["standard_median_s"]),
                ms_number(cols["separable_median_s"]),
                speedup_ascii(cols["speedup"]),
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
    table = _md_table(header, rows, "llllrrrrr" + ("rrr" if timed else ""))
    exact = (
        f"\nExact totals — as specified: {t.as_specified.macs:,} MACs, "
        f"{t.as_specified.params:,} params; all standard: {t.standard.macs:,} MACs, "
        f"{t.standard.params:,} params; all separable: {t.separable.macs:,} MACs, "
        f"{t.separable.params:,} params.\n"
    )
    return head + table + exact
