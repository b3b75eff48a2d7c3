"""A sweep as markdown: a title, one table row per point, the ratio note and the chart in a
text block.

Rule: returns one string; the convention note is ``conventions.SWEEP_MARKDOWN_NOTE``.
"""

from __future__ import annotations

from sepconv_cli.analysis.sweep import SweepReport
from sepconv_cli.counting.conventions import SWEEP_MARKDOWN_NOTE
from sepconv_cli.output.formats import SEP_STD
from sepconv_cli.output.sweep.captions import describe_base
from sepconv_cli.output.sweep.chart import chart_text
from sepconv_cli.spec.vary import value_text
from sepconv_cli.units import shape_cell


def sweep_markdown(report: SweepReport) -> str:
    head = f"### Sweep of {report.parameter}: {describe_base(report)}\n\n"
    header = [
        report.parameter,
        "Output",
        "Std MACs",
        "Sep MACs",
        SEP_STD,
        "Theory",
        "Std params",
        "Sep params",
    ]
    rows = []
    for p in report.points:
        r = p.report
        rows.append(
            [
                value_text(p.value),
                shape_cell(r.row.output_shape),
                f"{r.standard.macs:,}",
                f"{r.separable.total.macs:,}",
                f"{float(p.ratio):.4f}" if p.ratio is not None else "-",
                f"{float(r.theory):.4f}" if r.theory is not None else "-",
                f"{r.standard.params:,}",
                f"{r.separable.total.params:,}",
            ]
        )
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---:"] * len(header)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    table = "\n".join(lines) + "\n"
    note = SWEEP_MARKDOWN_NOTE
    return head + table + note + "\n```text\n" + chart_text(report) + "```\n"
