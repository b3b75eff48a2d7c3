"""The whole-graph timings (``--whole-model``) added to a report: a footer line in a table
and in markdown, a ``whole_graph`` object in JSON (docs/json.md), nothing in CSV (its rows
are layers; the whole graph is none of them)."""

from __future__ import annotations

import json

from sepconv_cli.execution.runtimes.whole_graph import FORM_LABELS, WholeGraph
from sepconv_cli.names import shown, shown_in_markdown
from sepconv_cli.output.formats import Format, Rendered
from sepconv_cli.units import seconds_cell


def _ms(seconds: float | None) -> str:
    """A footer's time to about three significant digits: ``0.062 ms``, ``3.10 ms``,
    ``12.3 ms``, ``1.234 s``."""
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 1000:
        return seconds_cell(seconds)
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def footer_lines(whole: WholeGraph, doubts: bool = True) -> list[str]:
    """``Whole graph on onnxruntime: as specified 3.10 ms (sum of layers 4.02 ms) · ...``,
    then what the sums leave out and why a form was not run; with ``doubts``, why a form's
    time is uncertain and what would help (``bench`` lists them with its layers')."""
    parts = []
    for form in whole.forms:
        label = FORM_LABELS[form.form]
        if form.median_s is None:
            parts.append(f"{label} not run")
            continue
        # ! slower than its layers beyond the spread, ~ noisy (execution/certainty.py)
        mark = " !" if form.inconsistent else " ~" if form.noisy else ""
        text = f"{label} {_ms(form.median_s)}{mark}"
        if form.sum_of_layers_s is not None:
            text += f" (sum of layers {_ms(form.sum_of_layers_s)})"
        parts.append(text)
    lines = [f"Whole graph on {whole.runtime.runtime}: " + " · ".join(parts)]
    if whole.layers_not_timed:
        lines.append(
            f"The sums leave out {whole.layers_not_timed} row(s) not timed on "
            f"{whole.runtime.runtime} alone; the whole graphs run them."
        )
    lines += list(whole.notes)
    if doubts:
        from sepconv_cli.execution.certainty import RunConditions, summary_lines
        from sepconv_cli.execution.machine import core_count

        conditions = RunConditions(
            whole.runtime.threads, whole.budget_s, whole.load_1m, core_count()
        )
        lines += summary_lines([], conditions, whole.forms, where="Whole graph")
    return lines


def with_whole_graph(rendered: Rendered, format: Format, whole: WholeGraph | None) -> Rendered:
    """``rendered`` (a report in ``format``) with the whole-graph timings added."""
    if whole is None:
        return rendered
    if format is Format.json and isinstance(rendered, str):
        data = json.loads(rendered)
        data["whole_graph"] = whole.as_dict()
        indent = 2 if rendered.startswith("{\n") else None
        separators = None if indent else (",", ":")
        return json.dumps(data, indent=indent, separators=separators) + "\n"
    if format is Format.markdown and isinstance(rendered, str):
        return (
            rendered.rstrip("\n")
            + "\n\n"
            + "\n".join(f"- {shown_in_markdown(x)}" for x in footer_lines(whole))
            + "\n"
        )
    if format is Format.table:
        from rich.console import Group
        from rich.text import Text

        return Group(rendered, Text("\n".join(map(shown, footer_lines(whole)))))
    return rendered
