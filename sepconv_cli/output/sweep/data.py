"""A sweep as data: JSON (the stable contract: one object per point, exact counts and
ratios) and CSV (one row per point).

Rule: strings only, never printed here. JSON keys and CSV columns are a contract: add,
never rename. A point's timing record, when measured, is written as it is.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from typing import Any

from sepconv_cli.analysis.sweep import Point, SweepReport
from sepconv_cli.counting.conventions import sweep_conventions
from sepconv_cli.counting.report import LayerReport
from sepconv_cli.spec.vary import value_json, value_text
from sepconv_cli.units import rounded_float

SCHEMA = "sepconv/sweep/v1"


def _exact(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def point_dict(point: Point) -> dict[str, Any]:
    return {"value": value_json(point.value), **report_dict(point.report)}


def report_dict(r: LayerReport) -> dict[str, Any]:
    """A point's counts, whatever its values (a sweep's point, a grid's)."""
    separable: dict[str, Any] = r.separable.total.as_dict()
    separable["depthwise"] = r.separable.depthwise.as_dict()
    separable["pointwise"] = r.separable.pointwise.as_dict()
    ratio = r.ratio_macs  # a Fraction made per read: once here, for both of its keys
    out: dict[str, Any] = {
        "input_shape": list(r.row.input_shape),
        "output_shape": list(r.row.output_shape),
        "standard": r.standard.as_dict(),
        "separable": separable,
        "ratio": {
            "macs": rounded_float(ratio),
            "params": rounded_float(r.ratio_params),
            "macs_exact": _exact(ratio),
        },
        "theory": rounded_float(r.theory),
        "theory_exact": _exact(r.theory),
    }
    if r.timing is not None:
        out["timing"] = r.timing.as_dict()
    return out


def sweep_dict(report: SweepReport) -> dict[str, Any]:
    a = report.asymptote
    itemsize = report.points[0].report.itemsize if report.points else 4
    return {
        "schema": SCHEMA,
        "parameter": report.parameter,
        "values": [value_json(p.value) for p in report.points],
        "layer": report.base,
        "conventions": sweep_conventions(report.dtype, itemsize),
        "asymptote": None
        if a is None
        else {
            "value": rounded_float(a.value),
            "exact": _exact(a.value),
            "part": a.part,
            "label": a.label,
        },
        "points": [point_dict(p) for p in report.points],
    }


def sweep_json(report: SweepReport) -> str:
    return json.dumps(sweep_dict(report), indent=2) + "\n"


CSV_COLUMNS = (
    "parameter",
    "value",
    "input_shape",
    "output_shape",
    "standard_macs",
    "separable_macs",
    "depthwise_macs",
    "pointwise_macs",
    "ratio_macs",
    "theory",
    "standard_params",
    "separable_params",
    "ratio_params",
    "standard_flops",
    "separable_flops",
)


def sweep_csv(report: SweepReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in report.points:
        r = p.report
        writer.writerow(
            {
                "parameter": report.parameter,
                "value": value_text(p.value),
                "input_shape": value_text(r.row.input_shape),
                "output_shape": value_text(r.row.output_shape),
                "standard_macs": r.standard.macs,
                "separable_macs": r.separable.total.macs,
                "depthwise_macs": r.separable.depthwise.macs,
                "pointwise_macs": r.separable.pointwise.macs,
                "ratio_macs": rounded_float(r.ratio_macs),
                "theory": rounded_float(r.theory),
                "standard_params": r.standard.params,
                "separable_params": r.separable.total.params,
                "ratio_params": rounded_float(r.ratio_params),
                "standard_flops": r.standard.flops,
                "separable_flops": r.separable.total.flops,
            }
        )
    return buffer.getvalue()
