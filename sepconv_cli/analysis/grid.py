"""Sweep grids: one conv layer costed at every combination of several ``--vary`` axes.

``run_grid`` takes the parsed axes (``spec.vary.parse_grid``) and costs the layer at every
point of their cartesian product, in row-major order: the first ``--vary`` is the outermost
loop and the last one changes fastest (``itertools.product``). Each point is counted exactly
like ``sepconv cost`` with that point's flags (the same validators, lowering and report);
``time_grid`` adds measured times per point. A single ``--vary`` stays a ``SweepReport``
(``analysis.sweep``): a grid is two or more axes.

Why the layer is built once and then copied with changes per point: ``layer_from_flags`` parses
every flag string again, and a grid has up to 100,000 points; each varied value goes
through its field's validator once per axis instead (the same validator, so the same
layer).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sepconv_cli.analysis.sweep import _BLAME, _base_dict
from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.network import Row
from sepconv_cli.counting.report import LayerReport, layer_report
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.flags import SEED_LAYER, layer_from_flags
from sepconv_cli.spec.layers import FIELDS, LayerSpec
from sepconv_cli.spec.vary import FLAGS, MAX_POINTS, Value, Vary, value_text, vary_error

if TYPE_CHECKING:  # NumPy is loaded only to time (--time)
    from sepconv_cli.execution.timing import TimingSettings


@dataclass(frozen=True)
class GridPoint:
    values: tuple[Value, ...]  # one per axis, in the axes' order
    report: LayerReport

    @property
    def ratio(self) -> Fraction | None:
        return self.report.ratio_macs


@dataclass(frozen=True)
class GridReport:
    axes: tuple[Vary, ...]
    base: dict[str, Any]  # the layer flags in effect, the varied ones as None
    points: tuple[GridPoint, ...]  # row-major: the last axis changes fastest
    dtype: str
    # what a pivot's cells show (``--metric``: the table, markdown and heat map); the data
    # formats carry every metric whatever this is
    metric: str = "ratio"

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(axis.parameter for axis in self.axes)


def _flag_key(parameter: str) -> str:
    return "input" if parameter in ("input", "size") else parameter


def point_text(parameters: tuple[str, ...], values: tuple[Value, ...]) -> str:
    """``kernel=3, filters=64``: a point as messages name it."""
    return ", ".join(f"{p}={value_text(v)}" for p, v in zip(parameters, values, strict=True))


def run_grid(axes: tuple[Vary, ...], given: dict[str, Any], common: dict[str, Any]) -> GridReport:
    """Cost the layer of ``SEED_LAYER`` + ``given`` + ``common`` at every point of the
    product of ``axes``. A flag for a varied parameter is a usage error, as in a sweep
    (``size`` keeps ``--input``'s channels)."""
    for axis in axes:
        if _flag_key(axis.parameter) in given and axis.parameter != "size":
            raise UsageError(
                f"{FLAGS[axis.parameter]}: cannot be combined with --vary "
                f"{axis.parameter} (the sweep sets it)"
            )
    flags = {**SEED_LAYER, **given, **common}
    base_layer = layer_from_flags(flags)
    assert base_layer.input is not None
    parameters = tuple(axis.parameter for axis in axes)
    fields = [[_fields(axis.parameter, v, base_layer.input) for v in axis.values] for axis in axes]
    batch, dtype = base_layer.batch or 1, base_layer.dtype or "float32"
    width = Width()
    # every field of the base layer, once: a point's layer is these with its changes
    # (``dataclasses.replace`` would read the fields again at every point)
    base_fields = {f.name: getattr(base_layer, f.name) for f in dataclasses.fields(LayerSpec)}
    # the loop allocates only acyclic objects (specs, ops, costs): the cyclic collector,
    # triggered every few hundred allocations, would rescan the growing list of points for
    # nothing (about a fifth of a 10,000-point grid's time)
    collecting = gc.isenabled()
    gc.disable()
    try:
        points = []
        for combination in itertools.product(*(range(len(axis.values)) for axis in axes)):
            changes: dict[str, Any] = {}
            for axis_fields, index in zip(fields, combination, strict=True):
                changes.update(axis_fields[index])
            layer = LayerSpec(**{**base_fields, **changes})
            values = tuple(axis.values[i] for axis, i in zip(axes, combination, strict=True))
            assert layer.input is not None
            try:
                forms = lower_uncached(layer, layer.input, width)
            except ShapeError as exc:
                raise _blame(exc, parameters, values) from None
            row = Row(0, "layer", layer.type, layer.input, forms, 1, "flags")
            points.append(GridPoint(values, layer_report(row, batch, dtype)))
    finally:
        if collecting:
            gc.enable()
    base = _base_dict(base_layer, "")
    for parameter in parameters:
        if parameter != "size":
            base[_flag_key(parameter)] = None
    return GridReport(axes, base, tuple(points), dtype)


# every point of a grid is a different layer, so ``lower``'s cache (keyed by the whole spec,
# hashed at each call) could only miss: the grid calls the function under it
lower_uncached = lower.__wrapped__


def _fields(parameter: str, value: Value, base_input: tuple[int, ...]) -> dict[str, Any]:
    """The spec fields one axis value sets, through the field's own validator (as
    ``layer_from_flags`` would)."""
    if parameter == "size":
        assert not isinstance(value, int)
        rank = len(base_input) - 1
        if len(value) not in (1, rank):
            raise vary_error(
                f"size={value_text(value)}: {len(value)} values, but --input "
                f"{value_text(base_input)} has {rank} spatial dim" + ("s" if rank > 1 else "")
            )
        spatial = value * rank if len(value) == 1 else value
        return {"input": FIELDS["input"]([*spatial, base_input[-1]])}
    typed = [*value] if isinstance(value, tuple) else value
    return {parameter: FIELDS[parameter](typed)}


def _blame(exc: ShapeError, parameters: tuple[str, ...], values: tuple[Value, ...]) -> UsageError:
    """A shape error at one point: ``--vary`` when a varied value can cause it, else the flag
    of the field, with the point named either way."""
    field = exc.field or "input"
    where = point_text(parameters, values)
    if any(field in _BLAME[p] for p in parameters):
        return vary_error(f"at {where}: {exc}")
    return UsageError(f"--{field.replace('_', '-')}: {exc} (at {where})")


def check_timed_grid(report_points: int) -> None:
    """``--time`` on a grid: each point is executed and timed under the per-point budget, so
    a timed grid is held to a sweep's :data:`MAX_POINTS` points."""
    if report_points > MAX_POINTS:
        raise UsageError(
            f"--time: a timed grid is limited to {MAX_POINTS:,} points (this one has "
            f"{report_points:,}); time a smaller grid or leave out --time"
        )


def time_grid(
    report: GridReport,
    settings: TimingSettings,
    progress: Callable[[int, int, str], None] | None = None,
) -> GridReport:
    """``report`` with both forms executed and timed at every point (``progress`` is told
    before each point: done, total, name)."""
    from sepconv_cli.execution.profiling import time_report

    total = len(report.points)
    points = tuple(
        replace(
            point,
            report=time_report(point.report, settings, progress=progress, index=i, total=total),
        )
        for i, point in enumerate(report.points)
    )
    return replace(report, points=points)
