"""A spatial analysis as data: JSON (the stable contract) and CSV (one row per form).

Rule: strings only, never printed here. JSON keys and CSV columns are a contract: add,
never rename. Weights that are integers are written as JSON ints; every other number at
full float64 precision.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sepconv_cli.analysis.spatial.model import COST_CONVENTION, Analysis, Timing, pixel_cost
from sepconv_cli.execution.timing import Stats

SCHEMA = "sepconv/spatial/v1"


def _num(value: float) -> int | float:
    """Integral values as JSON ints; others at full float64 precision (round-trip)."""
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(value)


def spatial_dict(a: Analysis) -> dict[str, Any]:
    k1, k2 = a.kernel.shape
    rank_r = pixel_cost(k1, k2, a.rank)
    pair = pixel_cost(k1, k2, 1)
    full = a.full_cost
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "kernel": a.kernel.name,
        "source": a.kernel.source,
        "parameters": {k: _num(v) for k, v in a.kernel.parameters.items()},
        "shape": [k1, k2],
        "matrix": [[_num(x) for x in row] for row in a.kernel.matrix.tolist()],
        "singular_values": list(a.singular_values),
        "tolerance": a.tolerance,
        "tolerance_rule": a.tolerance_rule,
        "rank": a.rank,
        "separable": a.separable,
        "factors": [
            {
                "term": f.term,
                "singular_value": _num(f.singular_value),
                "scale": _num(f.scale),
                "scale_text": f.scale_text,
                "integer": f.integer,
                "column": [_num(x) for x in f.column],
                "row": [_num(x) for x in f.row],
            }
            for f in a.factors
        ],
        "approximations": [
            {
                "rank": ap.rank,
                "relative_error": ap.relative_error,
                "cost_per_pixel": ap.cost.mults,
                "adds_per_pixel": ap.cost.adds,
                "predicted_speedup": round(full.mults / ap.cost.mults, 6),
            }
            for ap in a.approximations
        ],
        "cost": {
            "convention": COST_CONVENTION,
            "full": {"mults": full.mults, "adds": full.adds},
            "rank1": {
                "mults": pair.mults,
                "adds": pair.adds,
                "predicted_speedup": round(full.mults / pair.mults, 6),
                "exact": a.separable,
            },
            "rank_r": {
                "rank": a.rank,
                "mults": rank_r.mults,
                "adds": rank_r.adds,
                "predicted_speedup": round(full.mults / rank_r.mults, 6),
            },
        },
    }
    if a.timing is not None:
        doc["timing"] = timing_dict(a.timing)
    return doc


def _stats_dict(s: Stats) -> dict[str, Any]:
    """The keys spatial has always written; the harness's IQR and loop count stay out."""
    return {"median_s": s.median_s, "min_s": s.min_s, "max_s": s.max_s, "runs": s.runs}


def timing_dict(t: Timing) -> dict[str, Any]:
    out: dict[str, Any] = {
        "image": list(t.image),
        "output": list(t.output),
        "dtype": t.dtype,
        "mode": "valid correlation",
        "warmup": t.warmup,
        "method": "NumPy in-place multiply-add of shifted slices, row-blocked; separable = "
        "vertical pass then horizontal pass per term",
        "allclose": t.allclose,
    }
    for f in t.forms:
        entry: dict[str, Any] = {"terms": f.terms, **_stats_dict(f.stats)}
        if f.form != "full":
            entry.update(
                speedup=round(f.speedup, 4),
                predicted_speedup=round(f.predicted_speedup, 4),
                max_abs_diff=f.max_abs_diff,
                relative_error=f.relative_error,
            )
        out[f.form] = entry
    separable = next(f for f in t.forms if f.form == "separable")
    out["speedup"] = round(separable.speedup, 4)
    out["predicted_speedup"] = round(separable.predicted_speedup, 4)
    return out


def spatial_json(a: Analysis) -> str:
    return json.dumps(spatial_dict(a), indent=2) + "\n"


CSV_COLUMNS = (
    "kernel",
    "shape",
    "rank",
    "tolerance",
    "separable",
    "form",
    "terms",
    "relative_error",
    "mults_per_pixel",
    "adds_per_pixel",
    "predicted_speedup",
)
CSV_TIMING_COLUMNS = ("median_s", "min_s", "max_s", "runs", "speedup", "max_abs_diff")


def spatial_csv(a: Analysis) -> str:
    """One row per form: the full kernel, then the rank-r sums r = 1..rank."""
    columns = list(CSV_COLUMNS) + (list(CSV_TIMING_COLUMNS) if a.timing else [])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    k1, k2 = a.kernel.shape
    full = a.full_cost
    timed = {f.terms: f for f in a.timing.forms} if a.timing else {}
    common = {
        "kernel": a.kernel.name,
        "shape": f"{k1}x{k2}",
        "rank": a.rank,
        "tolerance": a.tolerance,
        "separable": str(a.separable).lower(),
    }
    rows = [("full", 0, 0.0, full)] + [
        (f"rank{ap.rank}", ap.rank, ap.relative_error, ap.cost) for ap in a.approximations
    ]
    for form, terms, error, cost in rows:
        row: dict[str, Any] = {
            **common,
            "form": form,
            "terms": terms,
            "relative_error": error,
            "mults_per_pixel": cost.mults,
            "adds_per_pixel": cost.adds,
            "predicted_speedup": round(full.mults / cost.mults, 6),
        }
        if terms in timed:
            f = timed[terms]
            row.update(
                median_s=f.stats.median_s,
                min_s=f.stats.min_s,
                max_s=f.stats.max_s,
                runs=f.stats.runs,
                speedup=round(f.speedup, 4),
                max_abs_diff=f.max_abs_diff,
            )
        writer.writerow(row)
    return buffer.getvalue()
