"""A sweep grid as data: JSON (``sepconv/sweep-grid/v1``, one object per point with every
varied parameter's value) and CSV (one row per point, a column per varied parameter).

Rules: strings only, never printed here; keys and columns are a contract (add, never
rename). Points are in the grid's row-major order (the last ``--vary`` changes fastest).

Why a schema of its own rather than more keys in ``sepconv/sweep/v1``: a sweep/v1 reader
takes ``parameter`` (one name) and each point's ``value`` (one value) as the whole story; a
grid given to it under the same id would be silently misread as a one-parameter sweep. Here
``parameters`` is a list and each point's ``values`` an object keyed by parameter. A point
object is otherwise sweep/v1's (``report_dict``), so per-point code carries over.

Why one point per line: a grid has up to 100,000 points; Python's JSON encoder indents only
in pure Python, and a point per line (the C encoder's output) is both several times faster
and easy to ``grep``. The document is still one JSON value.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sepconv_cli.analysis.grid import GridReport
from sepconv_cli.counting.conventions import sweep_conventions
from sepconv_cli.output.csv import TIMING_COLUMNS, timing_columns
from sepconv_cli.output.sweep.data import CSV_COLUMNS, report_dict
from sepconv_cli.spec.vary import value_json, value_text
from sepconv_cli.units import rounded_float

SCHEMA = "sepconv/sweep-grid/v1"
ORDER = "row-major: the first parameter is the outermost loop, the last changes fastest"


def grid_dict(report: GridReport) -> dict[str, Any]:
    """The document without its points (``grid_json`` writes them one per line)."""
    itemsize = report.points[0].report.itemsize if report.points else 4
    return {
        "schema": SCHEMA,
        "parameters": list(report.parameters),
        "values": {a.parameter: [value_json(v) for v in a.values] for a in report.axes},
        "order": ORDER,
        "count": len(report.points),
        "layer": report.base,
        "conventions": sweep_conventions(report.dtype, itemsize),
    }


def grid_points(report: GridReport) -> Iterator[dict[str, Any]]:
    """Each point's object, made when the encoder reaches it: holding 100,000 of them at
    once (several dicts each) only grew the memory and the work of Python's cyclic
    collector, which rescans live containers as they accumulate (most of a 10,000-point
    document's encoding time)."""
    parameters = report.parameters
    for point in report.points:
        values = {p: value_json(v) for p, v in zip(parameters, point.values, strict=True)}
        yield {"values": values, **report_dict(point.report)}


def grid_json(report: GridReport) -> str:
    head = json.dumps({**grid_dict(report), "points": []}, indent=2)
    assert head.endswith('"points": []\n}')
    lines = ",\n".join(["    " + json.dumps(p) for p in grid_points(report)])
    body = f"[\n{lines}\n  ]" if lines else "[]"
    return head[: -len("[]\n}")] + body + "\n}\n"


def grid_csv(report: GridReport) -> str:
    """One row per point: the varied parameters (by name, in ``--vary`` order), then the
    sweep CSV's columns after its ``parameter``/``value``; the timing columns when timed."""
    timed = any(p.report.timing for p in report.points)
    columns = [*report.parameters, *CSV_COLUMNS[2:], *(TIMING_COLUMNS if timed else ())]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for p in report.points:
        r = p.report
        row: list[Any] = [value_text(v) for v in p.values]
        row += [
            value_text(r.row.input_shape),
            value_text(r.row.output_shape),
            r.standard.macs,
            r.separable.total.macs,
            r.separable.depthwise.macs,
            r.separable.pointwise.macs,
            rounded_float(r.ratio_macs),
            rounded_float(r.theory),
            r.standard.params,
            r.separable.total.params,
            rounded_float(r.ratio_params),
            r.standard.flops,
            r.separable.total.flops,
        ]
        if timed:
            row += list(timing_columns(r.timing).values())
        writer.writerow(row)
    return buffer.getvalue()
