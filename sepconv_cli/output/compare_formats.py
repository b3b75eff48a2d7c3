"""JSON and markdown renderings of a comparison, and the value and delta cells they share
with its Rich table (:mod:`sepconv_cli.output.compare_table`)."""

from __future__ import annotations

import json
from typing import Any

from sepconv_cli.analysis.compare import LABELS, Comparison, Delta
from sepconv_cli.names import shown_in_markdown
from sepconv_cli.output.markdown import md_code
from sepconv_cli.units import human, percent

COMPARE_SCHEMA = "sepconv/compare/v1"


def _delta_dict(delta: Delta) -> dict[str, Any]:
    pct = delta.percent
    return {
        "base": delta.base,
        "new": delta.new,
        "delta": delta.absolute,
        "percent": None if pct is None else round(pct, 4),
    }


def compare_dict(result: Comparison) -> dict[str, Any]:
    return {
        "schema": COMPARE_SCHEMA,
        "base": {
            "label": result.base.label,
            "model": result.base.model,
            "timed": result.base.timed,
        },
        "new": {"label": result.new.label, "model": result.new.model, "timed": result.new.timed},
        "metrics": list(result.metrics),
        "layers": [
            {
                "name": change.name,
                "status": change.status,
                # the rows of each side this entry covers (several: a group)
                "base_rows": list(change.base_rows),
                "new_rows": list(change.new_rows),
                **{metric: _delta_dict(change.delta(metric)) for metric in result.metrics},
            }
            for change in result.changes
        ],
        "totals": {metric: _delta_dict(result.total(metric)) for metric in result.metrics},
        "failures": list(result.failures),
        "passed": not result.failures,
    }


def compare_json(result: Comparison) -> str:
    return json.dumps(compare_dict(result), indent=2) + "\n"


def fmt_value(metric: str, value: int | float | None) -> str:
    if value is None:
        return "-"
    if metric == "time":
        return f"{value * 1e3:.3f} ms"
    return human(value) if abs(value) >= 1000 else f"{value:,}"


def fmt_delta(metric: str, delta: Delta) -> str:
    absolute = delta.absolute
    if absolute is None:
        return "-"
    if absolute == 0:
        return "0"
    sign = "+" if absolute > 0 else "-"  # ASCII, as the percent's sign: one style per cell
    text = sign + fmt_value(metric, abs(absolute))
    pct = delta.percent
    return text + (f" ({percent(pct, sign=True)})" if pct is not None else "")


def compare_markdown(result: Comparison) -> str:
    """A pull-request comment: verdict, totals, then only the layers that changed."""
    verdict = (
        "❌ **Budget exceeded**\n\n"
        + "".join(f"- {shown_in_markdown(f)}\n" for f in result.failures)
        if result.failures
        else "✅ **Within budget**\n"
    )
    base, new = md_code(result.base.label, cell=False), md_code(result.new.label, cell=False)
    lines = [f"### sepconv: {base} → {new}\n", verdict]
    header = (
        "| | "
        + " | ".join(f"{LABELS[m]} base | {LABELS[m]} new | Δ" for m in result.metrics)
        + " |"
    )
    align = "|:---|" + "---:|---:|---:|" * len(result.metrics)
    lines += ["", header, align]
    totals = " | ".join(
        f"{fmt_value(m, result.total(m).base)} | {fmt_value(m, result.total(m).new)} | "
        f"{fmt_delta(m, result.total(m))}"
        for m in result.metrics
    )
    lines.append(f"| **Total** | {totals} |")
    changed = [
        c
        for c in result.changes
        if c.status != "matched" or any(c.delta(m).absolute for m in ("macs", "params"))
    ]
    if changed:
        lines += [
            "",
            f"<details><summary>Changed layers ({len(changed)} of {len(result.changes)})</summary>",
            "",
            "| Layer | Status | " + " | ".join(f"{LABELS[m]} Δ" for m in result.metrics) + " |",
            "|:---|:---|" + "---:|" * len(result.metrics),
        ]
        for change in changed:
            cells = " | ".join(fmt_delta(m, change.delta(m)) for m in result.metrics)
            lines.append(f"| {md_code(change.name)} | {change.status} | {cells} |")
        lines += ["", "</details>"]
    else:
        lines += ["", "No layer changed."]
    return "\n".join(lines) + "\n"
