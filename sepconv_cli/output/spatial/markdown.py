"""A spatial analysis as markdown: the kernel, the verdict, the terms, the cost per pixel
(with its convention) and the timing when measured.

Rule: returns one string; the words come from ``cells.py`` (shared with the Rich table).
"""

from __future__ import annotations

from collections.abc import Sequence

from sepconv_cli.analysis.spatial.model import COST_CONVENTION, Analysis
from sepconv_cli.output.spatial.cells import (
    fmt_vector,
    forms_rows,
    matrix_text,
    summary_line,
    timing_rows,
    timing_title,
)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":---" if x == "l" else "---:" for x in align) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def spatial_markdown(a: Analysis) -> str:

    k1, k2 = a.kernel.shape
    params = ", ".join(f"{k} = {v:.4g}" for k, v in a.kernel.parameters.items())
    out = [
        f"### {a.kernel.name}: {k1}×{k2} kernel ({a.kernel.source}"
        + (f", {params}" if params else "")
        + ")\n"
    ]
    if k1 <= 16 and k2 <= 16:
        out.append("```text\n" + matrix_text(a.kernel.matrix) + "\n```\n")
    out.append(
        f"**{summary_line(a)}.** Rank by SVD, tolerance {a.tolerance:.3g} "
        f"({a.tolerance_rule}); singular values "
        + ", ".join(f"{s:.4g}" for s in a.singular_values[:12])
        + (", …" if len(a.singular_values) > 12 else "")
        + ".\n"
    )
    out.append(
        _md_table(
            ["Term", "σ", "Scale", "Column", "Row"],
            [
                [
                    str(f.term),
                    f"{f.singular_value:.4g}",
                    f.scale_text,
                    fmt_vector(f.column),
                    fmt_vector(f.row),
                ]
                for f in a.factors
            ],
            "lrrll",
        )
    )
    out.append(
        _md_table(
            ["Form", "Rel. error", "Mults/pixel", "Adds/pixel", "Predicted speed-up"],
            [list(r) for r in forms_rows(a)],
            "lrrrr",
        )
    )
    out.append(f"\nCost convention: {COST_CONVENTION}\n")
    if a.timing is not None:
        out.append(f"\n{timing_title(a.timing)}:\n\n")
        out.append(
            _md_table(
                ["Form", "Median", "Min–max", "Speed-up", "Predicted", "Output vs full"],
                [list(r) for r in timing_rows(a)],
                "lrrrrl",
            )
        )
    return "\n".join(out)
