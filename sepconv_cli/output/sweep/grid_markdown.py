"""A sweep grid as markdown: the title, then the pivot (two parameters; cells: ``--metric``)
or one row per point (three or more), then the convention note.

Rule: one string; a markdown table has no width limit, so two parameters are always a pivot.
"""

from __future__ import annotations

from sepconv_cli.analysis.grid import GridReport
from sepconv_cli.counting.conventions import SWEEP_MARKDOWN_NOTE
from sepconv_cli.output.formats import SEP_STD
from sepconv_cli.output.sweep.captions import describe_grid
from sepconv_cli.output.sweep.pivot import pivot
from sepconv_cli.spec.vary import value_text
from sepconv_cli.units import shape_cell


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---:"] * len(header)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def grid_markdown(report: GridReport) -> str:
    head = f"### Sweep grid of {' × '.join(report.parameters)}: {describe_grid(report)}\n\n"
    if len(report.axes) == 2:
        model = pivot(report, report.metric)
        header = [model.corner.replace("\\", "\\\\"), *model.column_labels]
        rows = [
            [label, *(model.cell(i, j) for j in range(len(model.column_labels)))]
            for i, label in enumerate(model.row_labels)
        ]
        return head + _table(header, rows) + "\n" + model.note + "\n" + SWEEP_MARKDOWN_NOTE
    header = [*report.parameters, "Output", "Std MACs", "Sep MACs", SEP_STD, "Theory"]
    rows = []
    for p in report.points:
        r = p.report
        rows.append(
            [
                *(value_text(v) for v in p.values),
                shape_cell(r.row.output_shape),
                f"{r.standard.macs:,}",
                f"{r.separable.total.macs:,}",
                f"{float(p.ratio):.4f}" if p.ratio is not None else "-",
                f"{float(r.theory):.4f}" if r.theory is not None else "-",
            ]
        )
    note = f"\nOne row per point, the last --vary changing fastest ({len(report.points):,}).\n"
    return head + _table(header, rows) + note + SWEEP_MARKDOWN_NOTE
