"""``sepconv compare BASE NEW``: per-layer and total deltas between two models.

BASE and NEW may each be a JSON report (``--format json`` of ``profile`` or ``cost``), a
model spec file, an ONNX file or a preset name. Repeated rows are unrolled into their copies,
then rows are paired by name and by structure (:mod:`sepconv_cli.analysis.compare_align`);
copies that paired one to one fold back into one entry. Compared values are what each model
declares (``as_specified``); times are compared only when both sides were timed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sepconv_cli.analysis.compare_rows import Delta as Delta
from sepconv_cli.analysis.compare_rows import LayerChange as LayerChange
from sepconv_cli.analysis.compare_rows import LayerValues as LayerValues
from sepconv_cli.analysis.compare_rows import Status as Status
from sepconv_cli.analysis.compare_rows import pair_rows
from sepconv_cli.errors import UsageError
from sepconv_cli.units import fmt_count, fmt_percent, fmt_seconds, parse_percent

if TYPE_CHECKING:
    from sepconv_cli.interchange.models import ModelOptions

METRICS = ("macs", "params", "time")
LABELS = {"macs": "MACs", "params": "Params", "time": "Time"}


@dataclass(frozen=True)
class Snapshot:
    """What compare needs of one side: a model's name, layers and totals."""

    label: str
    model: str
    layers: tuple[LayerValues, ...]
    # what the times were measured on (runtime and device, base.runtime_key); None untimed
    runtime: str | None = None
    # what reading a model file said (its reader's notes, for stderr) and the op types of
    # the nodes it did not count, one per node (its totals are then a lower bound)
    notes: tuple[str, ...] = ()
    uncounted: tuple[str, ...] = ()

    @property
    def timed(self) -> bool:
        return bool(self.layers) and all(layer.time_s is not None for layer in self.layers)

    def total(self, metric: str) -> int | float | None:
        if metric == "time":
            return sum(layer.time_s or 0.0 for layer in self.layers) if self.timed else None
        return sum(layer.macs if metric == "macs" else layer.params for layer in self.layers)


@dataclass(frozen=True)
class Comparison:
    base: Snapshot
    new: Snapshot
    changes: tuple[LayerChange, ...]
    failures: tuple[str, ...] = field(default=())

    def total(self, metric: str) -> Delta:
        return Delta(self.base.total(metric), self.new.total(metric))

    @property
    def metrics(self) -> tuple[str, ...]:
        timed = self.base.timed and self.new.timed
        return METRICS if timed else ("macs", "params")


def _as_specified_time(layer: dict[str, Any]) -> float | None:
    """The layer's measured time as specified: ``timing.as_specified_s`` (what profile and
    cost write); for a report without that key, the median of the form the layer declares."""
    timing = layer.get("timing")
    if not isinstance(timing, dict):
        return None
    if "as_specified_s" in timing:
        value = timing["as_specified_s"]
    else:
        form = "separable" if layer.get("form") in ("separable", "depthwise") else "standard"
        part = timing.get(form)
        value = part.get("median_s") if isinstance(part, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def snapshot_from_json(data: Any, label: str) -> Snapshot:
    """Read a ``sepconv/profile/v1`` or ``sepconv/cost/v1`` report."""
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("sepconv/"):
        raise UsageError(f'{label}: not a sepconv JSON report (no "schema": "sepconv/...")')
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list):
        raise UsageError(f'{label}: malformed sepconv report: "layers" is not a list')
    layers = []
    for i, layer in enumerate(raw_layers):
        where = f"{label}: malformed sepconv report: layers[{i}]"
        if not isinstance(layer, dict):
            raise UsageError(f"{where} is not an object")
        counts = layer.get("as_specified") or layer.get("standard")
        if not isinstance(counts, dict):
            raise UsageError(f'{where} has no "as_specified" or "standard" counts')
        values = {}
        for key in ("macs", "params"):
            value = counts.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(
                    f"{where}.{key} must be a non-negative integer, got {str(value)[:40]}"
                )
            values[key] = value
        layers.append(
            LayerValues(
                name=str(layer.get("name", f"layer_{i}")),
                type=str(layer.get("type", "")),
                macs=values["macs"],
                params=values["params"],
                time_s=_as_specified_time(layer),
                repeat=_repeat_of(layer.get("repeat")),
                input_shape=_shape_of(layer.get("input_shape")),
                output_shape=_shape_of(layer.get("output_shape")),
            )
        )
    timed = any(layer.time_s is not None for layer in layers)
    runtime = _runtime_of(data, raw_layers) if timed else None
    return Snapshot(label, str(data.get("model", label)), tuple(layers), runtime)


def _repeat_of(value: Any) -> int:
    """A report's ``repeat``: a positive integer, else 1 (a report before repeats, or a
    value that is not one: the row then stands for itself)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _shape_of(value: Any) -> tuple[int, ...]:
    """A report's shape as a tuple; ``()`` (unknown) for anything but a list of integers."""
    if isinstance(value, list) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value
    ):
        return tuple(value)
    return ()


def _runtime_of(data: dict[str, Any], layers: list[Any]) -> str:
    """What a report's times ran on: its ``timing.runtime`` (profile) or its first timed
    layer's (cost); NumPy when neither says (every report before runtimes existed)."""
    from sepconv_cli.execution.runtimes.base import runtime_key

    records = [data.get("timing")] + [
        layer.get("timing") for layer in layers if isinstance(layer, dict)
    ]
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("runtime"), dict):
            return runtime_key(record["runtime"])
    return runtime_key(None)


def load_snapshot(ref: str, options: ModelOptions | None = None) -> Snapshot:
    """A JSON report, a spec or ONNX file or a preset name → counts (no timing for specs);
    ``options`` (``--input-shape``, ``--input-value``) apply to an ONNX file only."""
    path = Path(ref)
    if path.suffix == ".json" or (path.is_file() and _looks_like_json(path)):
        if not path.is_file():
            raise UsageError(f"{ref}: no such file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError too
            raise UsageError(f"{ref}: cannot read JSON report: {exc}") from None
        except RecursionError:
            raise UsageError(f"{ref}: cannot read JSON report: nested too deeply") from None
        return snapshot_from_json(data, ref)
    from sepconv_cli.counting.report import profile_report
    from sepconv_cli.interchange.models import is_onnx, load_model

    model, notes = load_model(ref, options if is_onnx(ref) else None, flag=ref)
    report = profile_report(model)
    layers = tuple(
        LayerValues(
            lr.row.name,
            lr.row.type,
            lr.as_specified.macs,
            lr.as_specified.params,
            None,
            lr.row.repeat,
            tuple(lr.row.input_shape),
            tuple(lr.row.output_shape),
        )
        for lr in report.layers
    )
    uncounted = tuple(u.op_type for u in model.uncounted)
    return Snapshot(ref, report.model.name, layers, notes=tuple(notes), uncounted=uncounted)


def _looks_like_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


@dataclass(frozen=True)
class Thresholds:
    """``--max-increase`` limits in percent by metric, and the metrics named one by one
    (``time=10%``), which must then be measurable."""

    limits: dict[str, Fraction] = field(default_factory=dict)
    named: frozenset[str] = frozenset()


def parse_thresholds(values: list[str]) -> Thresholds:
    """``macs=2%`` sets one metric (a later value for it wins); a bare ``5%`` sets every
    metric not set yet."""
    out: dict[str, Fraction] = {}
    named: set[str] = set()
    for text in values:
        if "=" in text:
            metric, _, amount = text.partition("=")
            metric = metric.strip().lower()
            if metric not in METRICS:
                raise UsageError(
                    f"--max-increase: unknown metric {metric!r} in {text!r}; "
                    f"use {', '.join(METRICS)}"
                )
            out[metric] = parse_percent(amount, "--max-increase")
            named.add(metric)
        else:
            limit = parse_percent(text, "--max-increase")
            for metric in METRICS:
                out.setdefault(metric, limit)
    return Thresholds(out, frozenset(named))


def mixed_runtimes(base: Snapshot, new: Snapshot) -> str | None:
    """Why the two sides' times are not comparable (measured on different runtimes or
    devices), or None when they are, or when either is untimed."""
    if base.runtime is None or new.runtime is None or base.runtime == new.runtime:
        return None
    return f"BASE was timed on {base.runtime}, NEW on {new.runtime}"


def compare(
    base: Snapshot, new: Snapshot, thresholds: Thresholds, *, allow_mixed_runtimes: bool = False
) -> Comparison:
    """The deltas and gate failures. Times measured on different runtimes are refused
    (exit 2) unless ``allow_mixed_runtimes``: the difference would be the runtime's."""
    mixed = mixed_runtimes(base, new)
    if mixed and not allow_mixed_runtimes:
        raise UsageError(
            f"compare: {mixed}: their times differ by runtime as much as by model; "
            "--allow-mixed-runtimes compares them anyway"
        )
    result = Comparison(base, new, pair_rows(base.layers, new.layers))
    failures = []
    for metric in result.metrics:
        limit = thresholds.limits.get(metric)
        delta = result.total(metric)
        if limit is None or delta.base is None or delta.new is None:
            continue
        grew = (
            (delta.new > delta.base)
            if delta.base == 0
            else (Fraction(delta.new) / Fraction(delta.base) - 1) * 100 > limit
        )
        if grew:
            fmt = fmt_seconds if metric == "time" else fmt_count
            pct = delta.percent
            failures.append(
                f"{LABELS[metric]} grew "
                + (
                    f"{pct:+.2f}%"
                    if pct is not None
                    else "from zero"
                    if delta.base == 0
                    else "beyond any percentage"
                )
                + f" ({fmt(Fraction(delta.base))} → {fmt(Fraction(delta.new))}), more than "
                f"--max-increase {metric}={fmt_percent(limit)}%"
            )
    return Comparison(base, new, result.changes, tuple(failures))
