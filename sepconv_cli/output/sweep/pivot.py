"""A two-parameter grid as a pivot: one parameter down the rows, the other across, one
metric in the cells. The model behind the grid's table, markdown and heat map.

Rules:

* Rows are the axis with more values, columns the other (a tall table fits a terminal
  better than a wide one); with as many values on each, the first ``--vary`` is the rows.
* A cell is one ``--metric`` of that point (:data:`METRICS`): ``ratio`` (separable /
  standard MACs, the default), ``params-ratio``, ``fewer`` (standard / separable MACs) or
  ``speedup`` (measured, so only with ``--time``). A point without the metric (a zero
  denominator, an untimed point) is ``-`` and ``None``.

No Rich and no matplotlib here: the renderers take the labels, texts and numbers from
:class:`Pivot`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from sepconv_cli.analysis.grid import GridPoint, GridReport
from sepconv_cli.spec.vary import value_text


@dataclass(frozen=True)
class Metric:
    name: str  # as --metric takes it
    title: str  # what a cell is, in words
    value: Callable[[GridPoint], float | None]
    text: Callable[[float], str]


def _float(value: Fraction | float | None) -> float | None:
    return None if value is None else float(value)


def _fewer(point: GridPoint) -> float | None:
    ratio = point.report.ratio_macs
    return float(1 / ratio) if ratio else None


def _speedup(point: GridPoint) -> float | None:
    timing = point.report.timing
    return None if timing is None or timing.speedup is None else float(timing.speedup)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "ratio",
            "separable / standard MACs",
            lambda p: _float(p.report.ratio_macs),
            lambda v: f"{v:.4f}",
        ),
        Metric(
            "params-ratio",
            "separable / standard params",
            lambda p: _float(p.report.ratio_params),
            lambda v: f"{v:.4f}",
        ),
        Metric("fewer", "standard / separable MACs (× fewer)", _fewer, lambda v: f"{v:.1f}×"),
        Metric(
            "speedup", "measured speed-up (standard / separable time)", _speedup, "{:.2f}×".format
        ),
    )
}
DEFAULT_METRIC = "ratio"


@dataclass(frozen=True)
class Pivot:
    row_parameter: str
    column_parameter: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    numbers: tuple[tuple[float | None, ...], ...]  # [row][column]
    metric: Metric

    def cell(self, row: int, column: int) -> str:
        number = self.numbers[row][column]
        return "-" if number is None else self.metric.text(number)

    @property
    def corner(self) -> str:
        """The top-left header: ``filters \\ kernel`` (rows \\ columns)."""
        return f"{self.row_parameter} \\ {self.column_parameter}"

    @property
    def note(self) -> str:
        return f"Cells: {self.metric.title} (--metric {self.metric.name})."


def pivot(report: GridReport, metric: str = DEFAULT_METRIC) -> Pivot:
    """The pivot of a two-axis grid (rows: the axis with more values; see the module)."""
    first, second = report.axes
    n_first, n_second = len(first.values), len(second.values)
    rows_first = n_first >= n_second
    chosen = METRICS[metric]
    # points are row-major over (first, second): point (i, j) is points[i * n_second + j]
    grid = [
        [chosen.value(report.points[i * n_second + j]) for j in range(n_second)]
        for i in range(n_first)
    ]
    if not rows_first:
        grid = [list(column) for column in zip(*grid, strict=True)]
    rows, columns = (first, second) if rows_first else (second, first)
    return Pivot(
        rows.parameter,
        columns.parameter,
        tuple(value_text(v) for v in rows.values),
        tuple(value_text(v) for v in columns.values),
        tuple(tuple(r) for r in grid),
        chosen,
    )
