"""``sweep --plot FILE`` for a grid of two parameters: a heat map of ``--metric``, laid out
like the pivot table (rows: the parameter with more values, first row at the top).

matplotlib is an optional extra, imported only here and only when drawing, with the
non-interactive Agg backend (as :mod:`sepconv_cli.output.plot`). Cells carry their numbers
while they stay legible (up to 20 × 20); a point without the metric is left blank.
"""

from __future__ import annotations

from pathlib import Path

from sepconv_cli.analysis.grid import GridReport
from sepconv_cli.output.plot import figure_bytes
from sepconv_cli.output.sweep.captions import describe_grid
from sepconv_cli.output.sweep.pivot import pivot

ANNOTATE_UP_TO = 20  # rows and columns: beyond this the numbers no longer fit their cells


def render_heatmap(report: GridReport, fmt: str) -> bytes:
    """The figure as ``png``/``svg``/``pdf`` bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = pivot(report, report.metric)
    data = [[float("nan") if v is None else v for v in row] for row in model.numbers]
    rows, columns = len(model.row_labels), len(model.column_labels)
    fig, ax = plt.subplots(figsize=(min(4 + 0.9 * columns, 16), min(2.5 + 0.45 * rows, 12)))
    image = ax.imshow(data, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=model.metric.title)
    ax.set_xticks(range(columns), model.column_labels)
    ax.set_yticks(range(rows), model.row_labels)
    ax.set_xlabel(model.column_parameter)
    ax.set_ylabel(model.row_parameter)
    if rows <= ANNOTATE_UP_TO and columns <= ANNOTATE_UP_TO:
        finite = [v for row in model.numbers for v in row if v is not None]
        middle = (min(finite) + max(finite)) / 2 if finite else 0.0
        for i in range(rows):
            for j in range(columns):
                number = model.numbers[i][j]
                if number is not None:
                    ax.text(
                        j,
                        i,
                        model.cell(i, j),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="black" if number > middle else "white",
                    )
    ax.set_title(
        f"{model.metric.title}\n{describe_grid(report)}", fontsize=10, loc="left", wrap=True
    )
    return figure_bytes(fig, fmt)


def write_heatmap(report: GridReport, path: Path) -> None:
    from sepconv_cli.output.files import write_atomic_bytes

    write_atomic_bytes(path, render_heatmap(report, path.suffix.lower().lstrip(".")), flag="--plot")
