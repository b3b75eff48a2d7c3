"""CSV renderings: one row per layer (cost and profile, with timing columns when timed) and
the presets list. Every function returns a string; none prints.

A name is written exactly (CSV is data: a reader gets back the name the file holds), quoted
where it holds a comma, a quote, a newline or a carriage return (:func:`csv_text`); rows end
in ``\n``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.report import LayerReport
from sepconv_cli.units import rounded_float, shape_text

if TYPE_CHECKING:
    from sepconv_cli.execution.records import LayerTiming
    from sepconv_cli.spec.presets import Preset

CSV_COLUMNS = (
    "index",
    "name",
    "type",
    "form",
    "repeat",
    "input_shape",
    "output_shape",
    "batch",
    "as_specified_macs",
    "as_specified_params",
    "standard_macs",
    "standard_flops",
    "standard_params",
    "standard_weight_bytes",
    "standard_activation_bytes",
    "separable_macs",
    "separable_flops",
    "separable_params",
    "separable_weight_bytes",
    "separable_activation_bytes",
    "depthwise_macs",
    "pointwise_macs",
    "ratio_macs",
    "ratio_params",
    "theory",
    "as_specified_live_bytes",
    "standard_live_bytes",
    "separable_live_bytes",
)
TIMING_COLUMNS = (
    "standard_median_s",
    "separable_median_s",
    "depthwise_median_s",
    "pointwise_median_s",
    "speedup",
)
TIMING_FLAG_COLUMNS = (
    "standard_runs",
    "separable_runs",
    "depthwise_runs",
    "pointwise_runs",
    "noisy",
    "few_runs",
    "inconsistent",
)
"""How sure each time is, as the table's Runs column and its ~, 1-run and ! marks say it:
samples per part, and the parts flagged (``;``-separated: ``depthwise;pointwise``)."""


def csv_row(layer: LayerReport) -> dict[str, Any]:
    row = layer.row
    std, sep = layer.standard, layer.separable.total
    out: dict[str, Any] = {
        "index": row.index,
        "name": row.name,
        "type": row.type,
        "form": row.form,
        "repeat": row.repeat,
        "input_shape": shape_text(row.input_shape),
        "output_shape": shape_text(row.output_shape),
        "batch": layer.batch,
        "as_specified_macs": layer.as_specified.macs,
        "as_specified_params": layer.as_specified.params,
        "standard_macs": std.macs,
        "standard_flops": std.flops,
        "standard_params": std.params,
        "standard_weight_bytes": std.weight_bytes,
        "standard_activation_bytes": std.activation_bytes,
        "separable_macs": sep.macs,
        "separable_flops": sep.flops,
        "separable_params": sep.params,
        "separable_weight_bytes": sep.weight_bytes,
        "separable_activation_bytes": sep.activation_bytes,
        "depthwise_macs": layer.separable.depthwise.macs,
        "pointwise_macs": layer.separable.pointwise.macs,
        "ratio_macs": rounded_float(layer.ratio_macs),
        "ratio_params": rounded_float(layer.ratio_params),
        "theory": rounded_float(layer.theory),
        "as_specified_live_bytes": layer.live_bytes[0],
        "standard_live_bytes": layer.live_bytes[1],
        "separable_live_bytes": layer.live_bytes[2],
    }
    if layer.timing is not None:
        out.update(timing_columns(layer.timing))
        out.update(timing_flags(layer.timing))
    return out


def timing_flags(timing: LayerTiming) -> dict[str, int | str]:
    """Each part's sample count and the parts flagged noisy, measured on fewer samples than
    sepconv asks for, or slower than their whole form (:data:`TIMING_FLAG_COLUMNS`)."""
    return {
        "standard_runs": timing.standard.runs,
        "separable_runs": timing.separable.runs,
        "depthwise_runs": timing.depthwise.runs,
        "pointwise_runs": timing.pointwise.runs,
        "noisy": ";".join(timing.noisy),
        "few_runs": ";".join(timing.few_runs),
        "inconsistent": ";".join(timing.inconsistent),
    }


def timing_columns(timing: LayerTiming | None) -> dict[str, float | None]:
    """The medians and the speed-up as flat columns (all None for a layer not timed); the
    CSV, the markdown and the tables read a layer's times through these."""
    if timing is None:
        return dict.fromkeys(TIMING_COLUMNS)
    return {
        "standard_median_s": timing.standard.median_s,
        "separable_median_s": timing.separable.median_s,
        "depthwise_median_s": timing.depthwise.median_s,
        "pointwise_median_s": timing.pointwise.median_s,
        "speedup": timing.speedup,
    }


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """``header`` and ``rows`` as CSV, each row ending in ``\n``, every field quoted that
    holds the delimiter, the quote, ``\n`` or ``\r``. Python's writer quotes only the
    characters of its line terminator: with ``\n`` it writes ``a\rb`` bare (3.11), which a
    reader splits into two rows, so a row holding a ``\r`` is written with ``\r\n`` (which
    quotes both) and its ending put back."""
    buffer = io.StringIO()
    plain = csv.writer(buffer, lineterminator="\n")
    carriage = io.StringIO()
    quoting = csv.writer(carriage, lineterminator="\r\n")
    plain.writerow(header)
    for row in rows:
        if not any(isinstance(value, str) and "\r" in value for value in row):
            plain.writerow(row)
            continue
        carriage.seek(0)
        carriage.truncate()
        quoting.writerow(row)
        buffer.write(carriage.getvalue()[:-2] + "\n")
    return buffer.getvalue()


def layers_csv(layers: Sequence[LayerReport]) -> str:
    columns = list(CSV_COLUMNS)
    if any(layer.timing for layer in layers):
        columns += [*TIMING_COLUMNS, *TIMING_FLAG_COLUMNS]
    rows = (csv_row(layer) for layer in layers)
    return csv_text(columns, ([row.get(key, "") for key in columns] for row in rows))


def presets_csv(items: Sequence[Preset]) -> str:
    return csv_text(
        ("name", "description", "path"), ([p.name, p.description, str(p.path)] for p in items)
    )
