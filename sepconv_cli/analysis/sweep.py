"""Sweeps: one conv layer's standard and separable cost as one parameter varies.

``--vary NAME=VALUES`` names the parameter (``filters``, ``kernel``, ``input``, ``size``,
``depth_multiplier``/``multiplier``, ``stride``) and its values: a comma-separated list
whose items are values (``5``, ``3x5``, ``8x8x32``) or inclusive integer ranges ``a..b``
with an optional step ``a..b:2`` or factor ``a..b:x2`` (8, 16, 32, …). ``size`` varies
the input's spatial size and keeps the channels of ``--input``.

Every point is costed exactly like ``sepconv cost`` (lowering → report). Pure integer
arithmetic: no NumPy, no Rich. The renderings here return strings; the Rich table lives in
``cmd_sweep``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sepconv_cli.counting.lowering import Width, lower
from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import ShapeError
from sepconv_cli.counting.report import CONVENTIONS, LayerReport, layer_report
from sepconv_cli.errors import UsageError
from sepconv_cli.spec import fields as F
from sepconv_cli.spec.layers import SEED_LAYER, LayerSpec, did_you_mean, layer_from_flags
from sepconv_cli.units import rounded_float

SCHEMA = "sepconv/sweep/v1"
DEFAULT_VARY = "filters=8..1024:x2"
MAX_POINTS = 1000

# accepted spellings → the canonical parameter
ALIASES = {
    "filters": "filters",
    "out_channels": "filters",
    "cout": "filters",
    "kernel": "kernel",
    "k": "kernel",
    "input": "input",
    "shape": "input",
    "size": "size",
    "resolution": "size",
    "depth_multiplier": "depth_multiplier",
    "multiplier": "depth_multiplier",
    "m": "depth_multiplier",
    "stride": "stride",
}
FLAGS = {
    "filters": "--filters",
    "kernel": "--kernel",
    "input": "--input",
    "size": "--input",
    "depth_multiplier": "--depth-multiplier",
    "stride": "--stride",
}
# the spec fields whose shape errors a sweep value can cause (see ``_point``)
_BLAME = {
    "filters": {"filters"},
    "kernel": {"kernel"},
    "input": {"input", "kernel", "padding", "stride", "dilation"},
    "size": {"input", "kernel"},
    "depth_multiplier": {"depth_multiplier"},
    "stride": {"stride", "kernel"},
}
_RANGE_RE = re.compile(r"^(\d+)\s*\.\.\s*(\d+)(?:\s*:\s*([x×*]?)\s*(\d+))?$")

Value = int | tuple[int, ...]


@dataclass(frozen=True)
class Vary:
    parameter: str  # canonical name (keys of FLAGS)
    values: tuple[Value, ...]
    text: str  # as given


def _fail(message: str) -> UsageError:
    return UsageError(f"--vary: {message}")


def parse_vary(text: str) -> Vary:
    """``filters=16,32,64`` / ``kernel=1..9:2`` / ``input=8x8x32,16x16x32`` → typed values.

    >>> parse_vary("filters=8..64:x2").values
    (8, 16, 32, 64)
    >>> parse_vary("kernel=1..7:3,3x5").values
    ((1,), (4,), (7,), (3, 5))
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise _fail(
            f"expected NAME=VALUES such as filters=16,32,64 or kernel=1..9, got {text[:60]!r}"
        )
    key = name.strip().lower().replace("-", "_")
    if key not in ALIASES:
        names = sorted(set(ALIASES.values()))
        raise _fail(
            f"cannot vary {name.strip()!r}{did_you_mean(key, ALIASES)}; expected one "
            f"of {', '.join(names)}"
        )
    parameter = ALIASES[key]
    values: list[Value] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise _fail(f"{parameter}: empty value in {spec[:60]!r}")
        values.extend(_item_values(parameter, item))
        if len(values) > MAX_POINTS:
            raise _fail(
                f"{parameter}: more than {MAX_POINTS} values; use a step "
                "(a..b:4) or a factor (a..b:x2)"
            )
    return Vary(parameter, tuple(values), text)


def _item_values(parameter: str, item: str) -> list[Value]:
    match = _RANGE_RE.match(item)
    if match is not None:
        if parameter == "input":
            raise _fail(
                f"input: ranges are not supported ({item!r}); use size={item} to vary "
                "the spatial size and keep --input's channels"
            )
        return [_validate(parameter, v, item) for v in _range(parameter, item, match)]
    if ".." in item:
        raise _fail(f"{parameter}: {item!r} is not a range such as 1..9, 1..9:2 or 8..512:x2")
    return [_validate(parameter, F.flag_value(item), item)]


def _range(parameter: str, item: str, match: re.Match[str]) -> list[int]:
    start, stop = int(match.group(1)), int(match.group(2))
    geometric = bool(match.group(3))
    step = int(match.group(4)) if match.group(4) else 1
    if start > stop:
        raise _fail(f"{parameter}: empty range {item!r} (start {start} > end {stop})")
    if geometric:
        if step < 2 or start < 1:
            raise _fail(
                f"{parameter}: {item!r}: a factor step needs a factor >= 2 and a start >= 1"
            )
        out: list[int] = []
        value = start
        while value <= stop and len(out) <= MAX_POINTS:
            out.append(value)
            value *= step
        return out
    if step < 1:
        raise _fail(f"{parameter}: {item!r}: the step must be >= 1")
    if (stop - start) // step + 1 > MAX_POINTS:
        raise _fail(
            f"{parameter}: {item!r} gives more than {MAX_POINTS} values; use a "
            "larger step or a factor (a..b:x2)"
        )
    return list(range(start, stop + 1, step))


def _validate(parameter: str, raw: Any, item: str) -> Value:
    validators: dict[str, Callable[[Any], Any]] = {
        "filters": F.positive_int,
        "depth_multiplier": F.positive_int,
        "kernel": F.per_dim,
        "stride": F.per_dim,
        "size": F.per_dim,
        "input": F.shape,
    }
    validator = validators[parameter]
    try:
        value: Value = validator(raw)
    except F.FieldError as exc:
        raise _fail(f"{parameter}={item}: {exc}") from None
    return value


def value_text(value: Value) -> str:
    return str(value) if isinstance(value, int) else "x".join(str(n) for n in value)


def value_json(value: Value) -> int | list[int]:
    if isinstance(value, int):
        return value
    return value[0] if len(value) == 1 else list(value)


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Point:
    value: Value
    report: LayerReport

    @property
    def ratio(self) -> Fraction | None:
        return self.report.ratio_macs


@dataclass(frozen=True)
class Asymptote:
    """Where the ratio tends as the parameter grows: the part of the separable cost that
    scales with it too (pointwise for filters: 1/prod(k); depthwise for kernel: 1/Cout)."""

    value: Fraction
    part: str  # "pointwise" or "depthwise"
    label: str  # "1/prod(k)" or "1/Cout"

    @property
    def text(self) -> str:
        return (
            f"{self.label} = {self.value.numerator}/{self.value.denominator} = "
            f"{float(self.value):.4f}"
        )


@dataclass(frozen=True)
class SweepReport:
    vary: Vary
    base: dict[str, Any]  # the layer flags in effect, the varied one as None
    points: tuple[Point, ...]
    asymptote: Asymptote | None
    dtype: str

    @property
    def parameter(self) -> str:
        return self.vary.parameter


def run_sweep(vary: Vary, given: dict[str, Any], common: dict[str, Any]) -> SweepReport:
    """Cost the layer of ``SEED_LAYER`` + ``given`` + ``common`` at every value of ``vary``.

    ``given`` holds layer flags (strings or typed values, as ``layer_from_flags`` takes
    them); a flag for the varied parameter is a usage error (``size`` keeps ``--input``).
    """
    flag_key = "input" if vary.parameter in ("input", "size") else vary.parameter
    if flag_key in given and vary.parameter != "size":
        raise UsageError(
            f"{FLAGS[vary.parameter]}: cannot be combined with --vary "
            f"{vary.parameter} (the sweep sets it)"
        )
    flags = {**SEED_LAYER, **given, **common}
    base_input: tuple[int, ...] | None = None
    if vary.parameter == "size":
        base_input = layer_from_flags({"input": flags["input"]}).input
    points = []
    for value in vary.values:
        points.append(Point(value, _point(vary.parameter, value, flags, base_input)))
    layer = layer_from_flags(
        {k: v for k, v in flags.items() if k != flag_key or vary.parameter == "size"}
    )
    base = _base_dict(layer, vary.parameter)
    return SweepReport(
        vary, base, tuple(points), asymptote(vary.parameter, points, base), layer.dtype or "float32"
    )


def _point(
    parameter: str, value: Value, flags: dict[str, Any], base_input: tuple[int, ...] | None
) -> LayerReport:
    if parameter == "size":
        assert base_input is not None and not isinstance(value, int)
        rank = len(base_input) - 1
        if len(value) not in (1, rank):
            raise _fail(
                f"size={value_text(value)}: {len(value)} values, but --input "
                f"{value_text(base_input)} has {rank} spatial dim" + ("s" if rank > 1 else "")
            )
        spatial = value * rank if len(value) == 1 else value
        layer = layer_from_flags({**flags, "input": [*spatial, base_input[-1]]})
    else:
        typed = [*value] if isinstance(value, tuple) else value
        layer = layer_from_flags({**flags, parameter: typed})
    assert layer.input is not None
    try:
        forms = lower(layer, layer.input, Width())
    except ShapeError as exc:
        field = exc.field or "input"
        if field in _BLAME[parameter]:
            raise _fail(f"{parameter}={value_text(value)}: {exc}") from None
        flag = "--" + field.replace("_", "-")
        raise UsageError(f"{flag}: {exc} (at {parameter}={value_text(value)})") from None
    row = Row(0, "layer", layer.type, layer.input, forms, 1, "flags")
    return layer_report(row, layer.batch or 1, layer.dtype or "float32")


def _base_dict(layer: LayerSpec, parameter: str) -> dict[str, Any]:
    def dims(values: tuple[int, ...] | None) -> Any:
        return None if values is None else value_json(values)

    base = {
        "input": list(layer.input) if layer.input else None,
        "kernel": dims(layer.kernel),
        "filters": layer.filters,
        "stride": dims(layer.stride or (1,)),
        "padding": (
            layer.padding
            if isinstance(layer.padding, str)
            else dims(layer.padding)
            if layer.padding
            else "valid"
        ),
        "dilation": dims(layer.dilation),
        "groups": layer.groups,
        "depth_multiplier": layer.depth_multiplier,
        "bias": bool(layer.bias),
        "batch": layer.batch or 1,
        "dtype": layer.dtype or "float32",
    }
    if parameter in ("input", "depth_multiplier", "filters", "kernel", "stride"):
        base[parameter] = None
    return base


def asymptote(parameter: str, points: Sequence[Point], base: dict[str, Any]) -> Asymptote | None:
    """The limit of the MAC ratio as ``filters`` (or ``kernel``) grows without bound.

    Standard MACs grow with Cout·prod(k); the separable form's pointwise part grows with
    Cout only and its depthwise part with prod(k) only. So as Cout → ∞ the ratio tends to
    pointwise/standard (= 1/prod(k) when M = 1 and groups = 1), and as k → ∞ to
    depthwise/standard (= 1/Cout). Both parts' ratios are the same at every point of the
    sweep; taken from the first point that has the part.
    """
    part = {"filters": "pointwise", "kernel": "depthwise"}.get(parameter)
    if part is None:
        return None
    plain = base["depth_multiplier"] == 1 and base["groups"] == 1
    label = (
        ("1/prod(k)" if part == "pointwise" else "1/Cout")
        if plain
        else ("M·groups/prod(k)" if part == "pointwise" else "M·groups/Cout")
    )
    for point in points:
        r = point.report
        macs = getattr(r.separable, part).macs
        if macs and r.standard.macs:
            return Asymptote(Fraction(macs, r.standard.macs), part, label)
    return None


# --------------------------------------------------------------------------- renderings


def _exact(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def point_dict(point: Point) -> dict[str, Any]:
    r = point.report
    separable: dict[str, Any] = r.separable.total.as_dict()
    separable["depthwise"] = r.separable.depthwise.as_dict()
    separable["pointwise"] = r.separable.pointwise.as_dict()
    out: dict[str, Any] = {
        "value": value_json(point.value),
        "input_shape": list(r.row.input_shape),
        "output_shape": list(r.row.output_shape),
        "standard": r.standard.as_dict(),
        "separable": separable,
        "ratio": {
            "macs": rounded_float(r.ratio_macs),
            "params": rounded_float(r.ratio_params),
            "macs_exact": _exact(r.ratio_macs),
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
        "conventions": {
            **CONVENTIONS,
            "dtype": report.dtype,
            "itemsize": itemsize,
            "ratio": "separable MACs / standard MACs",
        },
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


def describe_base(report: SweepReport) -> str:
    """``conv 5×5, 3→256 channels on 12×12×3, valid padding`` with the varied part left out."""
    b = report.base
    parts = []
    if b["kernel"] is not None:
        k = b["kernel"]
        parts.append("kernel " + (f"{k}×{k}" if isinstance(k, int) else "×".join(map(str, k))))
    if b["filters"] is not None:
        parts.append(f"{b['filters']} filters")
    if b["input"] is not None and report.parameter != "size":
        parts.append("input " + "×".join(map(str, b["input"])))
    elif report.parameter == "size" and b["input"] is not None:
        parts.append(f"{b['input'][-1]} input channels")
    if b["stride"] not in (None, 1):
        parts.append(f"stride {b['stride']}")
    parts.append(f"padding {b['padding']}")
    if b["dilation"] != 1:
        parts.append(f"dilation {b['dilation']}")
    if b["groups"] != 1:
        parts.append(f"groups {b['groups']}")
    if b["depth_multiplier"] not in (None, 1):
        parts.append(f"multiplier {b['depth_multiplier']}")
    if b["bias"]:
        parts.append("bias")
    parts.append(f"batch {b['batch']}, {b['dtype']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- the chart

CHART_WIDTH = 48
GLYPHS = {"floor": "█", "rest": "░", "same": "▒"}


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[tuple[str, str], ...]  # (role, glyphs): role in GLYPHS
    ratio: Fraction | None


def chart(report: SweepReport, width: int = CHART_WIDTH) -> tuple[list[Bar], int | None, str]:
    """A horizontal bar of separable/standard MACs per point, on a common linear scale.

    Each bar is split into the part that tends to the asymptote ("floor", drawn first:
    pointwise for a filters sweep, depthwise for a kernel sweep, depthwise otherwise) and
    the rest. A point whose forms are equal (a 1×1 kernel: nothing to separate, ratio 1) is
    drawn as "same" and does not set the scale; a bar longer than the scale ends in ▸.
    Returns the bars, the asymptote's column (or None) and the legend.
    """
    a = report.asymptote
    floor_part = a.part if a else "depthwise"
    rest_part = "pointwise" if floor_part == "depthwise" else "depthwise"

    def separated(p: Point) -> bool:
        return bool(p.report.separable.depthwise.macs or p.report.separable.pointwise.macs)

    ratios = [float(p.ratio) for p in report.points if p.ratio is not None and separated(p)]
    if not ratios:
        ratios = [float(p.ratio) for p in report.points if p.ratio is not None]
    scale = max([*ratios, float(a.value) if a else 0.0, 1e-12])

    def cells(fraction: float) -> int:
        return round(fraction / scale * width)

    bars = []
    for p in report.points:
        r = p.report
        std = r.standard.macs
        label = value_text(p.value)
        if not std or p.ratio is None:
            bars.append(Bar(label, (), None))
            continue
        total = float(p.ratio)
        if not separated(p):
            n = cells(total)
            glyphs = GLYPHS["same"] * n if n <= width else GLYPHS["same"] * (width - 1) + "▸"
            bars.append(Bar(label, (("same", glyphs),), p.ratio))
            continue
        first = cells(getattr(r.separable, floor_part).macs / std)
        end = max(cells(total), first)
        if end == 0 and total > 0:  # too small for a cell: still show that it is there
            bars.append(Bar(label, (("rest", "▏"),), p.ratio))
            continue
        bars.append(
            Bar(
                label,
                (("floor", GLYPHS["floor"] * first), ("rest", GLYPHS["rest"] * (end - first))),
                p.ratio,
            )
        )
    column = cells(float(a.value)) if a else None
    legend = (
        f"{GLYPHS['floor']} {floor_part}/standard   {GLYPHS['rest']} {rest_part}/standard"
        + (
            f"   {GLYPHS['same']} 1×1 kernel: nothing to separate (ratio 1)"
            if any(b.segments and b.segments[0][0] == "same" for b in bars)
            else ""
        )
        + f"   (full width = {scale:.4g})"
    )
    return bars, column, legend


def bar_suffix(bar: Bar) -> str:
    if bar.ratio is None:
        return "-"
    if bar.ratio < 1:
        note = f" ({float(1 / bar.ratio):.1f}× fewer)" if bar.ratio else ""
    else:
        note = f" ({float(bar.ratio):.2f}× more)" if bar.ratio > 1 else " (same)"
    return f"{float(bar.ratio):.4f}{note}"


def chart_text(report: SweepReport, width: int = CHART_WIDTH) -> str:
    """The chart as plain Unicode lines (markdown's code block; the table adds colour)."""
    bars, column, legend = chart(report, width)
    label_width = max([len(b.label) for b in bars] + [len(report.parameter)])
    lines = [f"{report.parameter.rjust(label_width)}  separable / standard MACs"]
    for b in bars:
        body = "".join(glyphs for _, glyphs in b.segments)
        lines.append(f"{b.label.rjust(label_width)} │{body.ljust(width)} {bar_suffix(b)}")
    if column is not None and report.asymptote is not None:
        lines.append(" " * (label_width + 2 + column) + "▲ " + limit_text(report))
    lines.append(legend)
    return "\n".join(lines) + "\n"


def limit_text(report: SweepReport) -> str:
    a = report.asymptote
    assert a is not None
    return f"limit as {report.parameter} → ∞: {a.text}"


def sweep_markdown(report: SweepReport) -> str:
    head = f"### Sweep of {report.parameter}: {describe_base(report)}\n\n"
    header = [
        report.parameter,
        "Output",
        "Std MACs",
        "Sep MACs",
        "Ratio",
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
                value_text(r.row.output_shape),
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
    note = (
        "\nRatio = separable / standard MACs; theory = 1/Cout + 1/prod(k) (exact when the "
        "depth multiplier and groups are 1).\n"
    )
    return head + table + note + "\n```text\n" + chart_text(report) + "```\n"
