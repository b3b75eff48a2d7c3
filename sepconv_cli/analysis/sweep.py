"""Sweeps: one conv layer's standard and separable cost as one parameter varies.

The engine: ``run_sweep`` costs the layer at every value of a parsed ``--vary``
(``spec.vary``), each point exactly like ``sepconv cost`` (lowering → report), and finds
the ratio's asymptote; ``time_points`` adds measured times per point. Pure integer
arithmetic (timing aside, which ``execution`` does); renderings are
``sepconv_cli.output.sweep``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.network import Row
from sepconv_cli.counting.report import LayerReport, layer_report
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.fields import padding_json
from sepconv_cli.spec.flags import SEED_LAYER, layer_from_flags
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.spec.vary import FLAGS, Value, Vary, value_json, value_text, vary_error

if TYPE_CHECKING:  # NumPy is loaded only to time (--time)
    from sepconv_cli.execution.timing import TimingSettings

# the spec fields whose shape errors a sweep value can cause (see ``_point``)
_BLAME = {
    "filters": {"filters"},
    "kernel": {"kernel"},
    "input": {"input", "kernel", "padding", "stride", "dilation"},
    "size": {"input", "kernel"},
    "depth_multiplier": {"depth_multiplier"},
    "stride": {"stride", "kernel"},
}


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
            raise vary_error(
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
            raise vary_error(f"{parameter}={value_text(value)}: {exc}") from None
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
        "padding": padding_json(layer.padding),
        "dilation": dims(layer.dilation),
        "groups": layer.groups,
        "depth_multiplier": layer.depth_multiplier,
        "bias": bool(layer.bias),
        "batch_norm": layer.batch_norm != "none",
        "activation": layer.activation,
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
    pointwise/standard (= M/prod(k)), and as k → ∞ to depthwise/standard (= M/Cout): the
    standard form is the dense conv whatever the groups (docs/conventions.md). Both parts'
    ratios are the same at every point of the sweep; taken from the first point that has
    the part.
    """
    part = {"filters": "pointwise", "kernel": "depthwise"}.get(parameter)
    if part is None:
        return None
    m = "1" if base["depth_multiplier"] == 1 else "M"
    label = f"{m}/prod(k)" if part == "pointwise" else f"{m}/Cout"
    for point in points:
        r = point.report
        macs = getattr(r.separable, part).macs
        if macs and r.standard.macs:
            return Asymptote(Fraction(macs, r.standard.macs), part, label)
    return None


def time_points(
    report: SweepReport,
    settings: TimingSettings,
    progress: Callable[[int, int, str], None] | None = None,
) -> SweepReport:
    """``report`` with both forms executed and timed at every point (``progress`` is told
    before each point: done, total, name)."""
    from sepconv_cli.execution.profiling import time_report

    points = tuple(
        replace(
            point,
            report=time_report(
                point.report, settings, progress=progress, index=i, total=len(report.points)
            ),
        )
        for i, point in enumerate(report.points)
    )
    return replace(report, points=points)
