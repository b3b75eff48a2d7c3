"""Report objects: rows of a model (or single layers) with the costs of every form.

Renderers read these; nothing here formats text for people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import prod
from typing import TYPE_CHECKING, Any

from sepconv_cli.counting.conventions import JSON_CONVENTIONS, PEAK_MEMORY
from sepconv_cli.counting.cost import Cost, chain
from sepconv_cli.counting.liveness import Peak, peaks, single_row_live
from sepconv_cli.counting.lowering import Forms, lower
from sepconv_cli.counting.network import Model, Row
from sepconv_cli.counting.ops import (
    DTYPE_BYTES,
    BatchNorm,
    Conv,
    Op,
    activation_flops,
    theory_ratio,
)
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.units import human

if TYPE_CHECKING:  # execution sits above counting: the type only, never the module
    from sepconv_cli.execution.records import LayerTiming, ProfileTiming

COST_SCHEMA = "sepconv/cost/v1"
PROFILE_SCHEMA = "sepconv/profile/v1"

# the JSON `conventions` object (a contract): stated once, in counting/conventions.py
CONVENTIONS: dict[str, str] = JSON_CONVENTIONS


@dataclass(frozen=True)
class SeparableCost:
    total: Cost
    depthwise: Cost
    pointwise: Cost
    other: Cost


@dataclass(frozen=True)
class LayerReport:
    row: Row
    batch: int
    itemsize: int
    as_specified: Cost
    standard: Cost
    separable: SeparableCost
    theory: Fraction | None
    timing: LayerTiming | None = None  # set by execution.profiling when timed
    note: str = ""
    dtype: str = "float32"
    # FLOPs of the row's activation function, every instance, the same in every form; kept
    # apart from the forms' fvcore-compatible ``flops`` (conventions: ACTIVATIONS)
    activation_function_flops: int = 0

    @property
    def ratio_macs(self) -> Fraction | None:
        return _ratio(self.separable.total.macs, self.standard.macs)

    @property
    def live_bytes(self) -> tuple[int, int, int]:
        """The activation bytes alive at once at the row's fullest step, per form (as
        specified, standard, separable): in its model (liveness, walked when the model was
        read), or for a layer on its own its input and output with what its form makes
        between them (conventions: PEAK_MEMORY). Walked only when asked: a sweep of 10,000
        layers reads none."""
        row = self.row
        live = row.live if row.live is not None else single_row_live(row, self.batch)
        n = self.itemsize
        return (live[0] * n, live[1] * n, live[2] * n)

    @property
    def ratio_params(self) -> Fraction | None:
        return _ratio(self.separable.total.params, self.standard.params)


@dataclass(frozen=True)
class Totals:
    as_specified: Cost
    standard: Cost
    separable: Cost
    activation_function_flops: int = 0  # the same in every form
    # each form's peak activation bytes and the row where it first occurs (liveness)
    peaks: tuple[Peak, Peak, Peak] = (Peak(0, "", -1), Peak(0, "", -1), Peak(0, "", -1))


@dataclass(frozen=True)
class ProfileReport:
    model: Model
    layers: tuple[LayerReport, ...]
    totals: Totals
    machine: dict[str, Any] = field(default_factory=dict)
    timing: ProfileTiming | None = None  # set by execution.profiling when timed


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _parts(ops: tuple[Op, ...]) -> dict[str, list[Op]]:
    """Group a separable form's ops into depthwise / pointwise / other; batch-norm joins the
    convolution it follows."""
    parts: dict[str, list[Op]] = {"depthwise": [], "pointwise": [], "other": []}
    current = "other"
    for op in ops:
        if not isinstance(op, BatchNorm):
            current = op.role if op.role in ("depthwise", "pointwise") else "other"
        parts[current].append(op)
    return parts


def activated_elements(row: Row) -> int:
    """Values one instance of ``row`` passes through its activation function, per item.

    The activation follows the row's output (a residual block's follows its add), except in
    an inverted residual, where it follows the expansion and the depthwise convolution and
    the projection stays linear (MobileNetV2's linear bottleneck, torchvision's
    ``InvertedResidual``). Every form has the same activated shapes.
    """
    if row.activation == "none":
        return 0
    if row.type != "inverted_residual":
        return prod(row.output_shape)
    convs = [op for op in row.forms.as_specified if isinstance(op, Conv)]
    upto = next((i for i, op in enumerate(convs) if op.role == "depthwise"), 0)
    return sum(prod(op.out_shape) for op in convs[: upto + 1])


def inner_activated_elements(row: Row) -> int:
    """Values one instance of a depthwise-separable pair's row passes through the
    depthwise's activation (``row.inner_activation``), per item: the depthwise's output, as
    written. The standard form has no such tensor; the activation counts the same in every
    form all the same (conventions: the pair is one convolution, its activations are the
    written ones)."""
    if row.inner_activation == "none":
        return 0
    depthwise = next(
        op for op in row.forms.as_specified if isinstance(op, Conv) and op.role == "depthwise"
    )
    return prod(depthwise.out_shape)


def row_activation_flops(row: Row, batch: int) -> int:
    """FLOPs of every activation function of ``row``'s instances (its repeat included):
    the one after its output and, in a depthwise-separable pair, the depthwise's."""
    n = batch * row.repeat
    return activation_flops(row.activation, n * activated_elements(row)) + activation_flops(
        row.inner_activation, n * inner_activated_elements(row)
    )


def theory_for(forms: Forms) -> Fraction | None:
    """``1/Cout + 1/prod(k)`` when the law holds: the standard form is one dense k×k
    convolution (k > 1) and the separable form a depthwise k×k with M = 1 then a pointwise
    1×1 (a dense or grouped ``conv``, or a ``separable`` layer, with M = 1). It follows the
    forms, never the type the layer is written as."""
    standard = [op for op in forms.standard if isinstance(op, Conv)]
    separable = [op for op in forms.separable if isinstance(op, Conv)]
    if len(standard) != 1 or len(separable) != 2:
        return None
    conv, (depthwise, pointwise) = standard[0], separable
    if conv.groups != 1 or prod(conv.kernel) == 1:
        return None
    if depthwise.role != "depthwise" or pointwise.role != "pointwise":
        return None
    if depthwise.out_channels != depthwise.in_channels:
        return None
    num, den = theory_ratio(conv.out_channels, conv.kernel)
    return Fraction(num, den)


@dataclass(frozen=True)
class _FormCosts:
    declared: Cost
    standard: Cost
    separable: SeparableCost
    theory: Fraction | None


def _form_costs(
    forms: Forms, batch: int, itemsize: int, weight_itemsize: int | None = None
) -> _FormCosts:
    """Costs of one instance of each form (forms that are the same ops are counted once),
    and the law's ratio where it holds. ``weight_itemsize``: bytes per weight when the
    weights are stored in another format than the activations (a TFLite file's float16)."""

    # each op costed once: the separable form's parts are its own ops again
    costed: dict[int, Cost] = {}

    def op_cost(op: Op) -> Cost:
        found = costed.get(id(op))
        if found is None:
            found = op.cost(batch, itemsize)
            if weight_itemsize is not None and weight_itemsize != itemsize:
                weights = found.weight_bytes // itemsize * weight_itemsize
                found = replace(
                    found,
                    weight_bytes=weights,
                    bytes_moved=found.bytes_moved - found.weight_bytes + weights,
                )
            costed[id(op)] = found
        return found

    def cost(ops: tuple[Op, ...] | list[Op]) -> Cost:
        return chain([op_cost(op) for op in ops])

    declared = cost(forms.as_specified)
    standard = declared if forms.standard is forms.as_specified else cost(forms.standard)
    separable = (
        declared
        if forms.separable is forms.as_specified
        else standard
        if forms.separable is forms.standard
        else cost(forms.separable)
    )
    parts = _parts(forms.separable)
    return _FormCosts(
        declared,
        standard,
        SeparableCost(
            total=separable,
            depthwise=cost(parts["depthwise"]),
            pointwise=cost(parts["pointwise"]),
            other=cost(parts["other"]),
        ),
        theory_for(forms),
    )


COUNTED_FIELDS = (
    "macs",
    "flops",
    "params",
    "weight_bytes",
    "input_bytes",
    "output_bytes",
    "intermediate_bytes",
    "bytes_moved",
)


def _refuse_negative(row: Row, costs: _FormCosts) -> None:
    """The invariant every report and gate rests on, checked where the counts are made: no
    count of any form of a row is negative (a model file's dims that every check before let
    through would otherwise pass a budget with a negative total)."""
    for cost in (costs.declared, costs.standard, costs.separable.total):
        bad = next((f for f in COUNTED_FIELDS if getattr(cost, f) < 0), None)
        if bad is not None:
            raise UsageError(
                f"{row.where}: counts {getattr(cost, bad):,} {bad.replace('_', ' ')}: its "
                "shapes are impossible (a damaged file?)"
            )


def layer_report(
    row: Row,
    batch: int,
    dtype: str,
    cache: dict[int, tuple[Forms, _FormCosts]] | None = None,
    weight_dtype: str = "",
) -> LayerReport:
    """Counts of every form of ``row``, times its repeat. ``cache`` (keyed by the forms'
    identity) lets rows that share lowered forms share their counting; ``weight_dtype``:
    the weights' format where it is not ``dtype``."""
    itemsize = DTYPE_BYTES[dtype]
    weight_itemsize = DTYPE_BYTES[weight_dtype] if weight_dtype else None
    # a row with items of its own (windows in a file's leading dim) is counted on those
    batch = row.batch if row.batch is not None else batch
    shared = cache if row.batch is None else None  # the cache holds costs at the model batch
    hit = shared.get(id(row.forms)) if shared is not None else None
    if hit is not None and hit[0] is row.forms:
        costs = hit[1]
    else:
        costs = _form_costs(row.forms, batch, itemsize, weight_itemsize)
        _refuse_negative(row, costs)
        if shared is not None:
            shared[id(row.forms)] = (row.forms, costs)
    n = row.repeat
    sep = costs.separable
    return LayerReport(
        row=row,
        batch=batch,
        itemsize=itemsize,
        as_specified=costs.declared.times(n),
        standard=costs.standard.times(n),
        separable=sep
        if n == 1
        else SeparableCost(
            total=sep.total.times(n),
            depthwise=sep.depthwise.times(n),
            pointwise=sep.pointwise.times(n),
            other=sep.other.times(n),
        ),
        theory=costs.theory,
        dtype=dtype,
        activation_function_flops=row_activation_flops(row, batch),
    )


def profile_report(model: Model) -> ProfileReport:
    cache: dict[int, tuple[Forms, _FormCosts]] = {}
    layers = tuple(
        layer_report(row, model.batch, model.dtype, cache, model.weight_dtype) for row in model.rows
    )
    return ProfileReport(model=model, layers=layers, totals=totals(layers))


def totals(layers: tuple[LayerReport, ...]) -> Totals:
    each = peaks([lr.row.name for lr in layers], [lr.live_bytes for lr in layers])
    return Totals(
        as_specified=Cost.total(lr.as_specified for lr in layers),
        standard=Cost.total(lr.standard for lr in layers),
        separable=Cost.total(lr.separable.total for lr in layers),
        activation_function_flops=sum(lr.activation_function_flops for lr in layers),
        peaks=(each[0], each[1], each[2]),
    )


def activation_line(flops: int, functions: Sequence[str]) -> str:
    """The one line tables print for activation FLOPs (empty when there are none)."""
    if not flops:
        return ""
    names = ", ".join(dict.fromkeys(f for f in functions if f != "none"))
    return (
        f"Activations ({names}): {flops:,} FLOPs in every form, apart from the FLOPs above "
        "(no MACs; not timed)"
    )


_FORMS = ("as specified", "standard", "separable")


def peak_line(t: Totals, dtype: str, show: Callable[[str], str] = str) -> str:
    """The one line of each form's peak activation bytes, the row where it first occurs
    (its name through ``show``) and the weights at ``dtype`` (the markdown's; the table puts
    each form's peak on its own line, :func:`peak_text`)."""
    where = " · ".join(
        f"{peak_text(peak, show)} ({form})" for peak, form in zip(t.peaks, _FORMS, strict=True)
    )
    return f"Peak activations: {where}. {weights_line(t, dtype)}"


def peak_text(peak: Peak, show: Callable[[str], str] = str) -> str:
    """``4.82 MB at sep1``: a form's peak activation bytes and the first row reaching it."""
    return f"{human(peak.bytes, 'B')} at {show(peak.row)}" if peak.index >= 0 else "0 B"


def weights_line(t: Totals, dtype: str) -> str:
    """Each form's weight bytes at ``dtype``, and what the peak is (the rule's phrase)."""
    costs = (t.as_specified, t.standard, t.separable)
    weights = " · ".join(
        f"{human(cost.weight_bytes, 'B')} {form}" for cost, form in zip(costs, _FORMS, strict=True)
    )
    return f"Weights ({dtype}): {weights}. {PEAK_MEMORY.footer}."


def peak_ratio(t: Totals) -> str:
    """``, 1.0714 of the peak activations`` (separable / standard), with a warning when
    the separable form has fewer MACs but a higher peak; empty without a standard peak."""
    sep, std = t.peaks[2].bytes, t.peaks[1].bytes
    if not std:
        return ""
    text = f", {sep / std:.4f} of the peak activations"
    if sep > std and t.separable.macs < t.standard.macs:
        text += " (fewer MACs, a higher peak: the depthwise outputs are tensors of their own)"
    return text


# the flags that shape the output, most likely culprit first, for "output would be empty"
_SHAPE_FLAGS = ("kernel", "dilation", "stride", "padding", "input")


def _blame(layer: LayerSpec, field: str) -> str:
    """The flag to name for a shape error: the field's own flag if the user typed it, else
    the first shape flag they typed, else the field's flag."""
    typed = dict(layer.field_where)
    if field in typed:
        return typed[field]
    if field in _SHAPE_FLAGS:
        for candidate in _SHAPE_FLAGS:
            if candidate in typed:
                return typed[candidate]
    return "--" + (field or "input").replace("_", "-")


def single_layer_report(layer: LayerSpec, index: int = 0) -> LayerReport:
    """One layer given on its own (``cost``, ``sweep``, ``interactive``) as a report row.
    A shape error names the flag the user typed, or the file position of the field."""
    assert layer.input is not None
    try:
        forms = lower(layer, layer.input, Width())
    except ShapeError as exc:
        if layer.where == "flags":
            raise UsageError(f"{_blame(layer, exc.field)}: {exc}") from None
        raise UsageError(f"{layer.locate(exc.field)}: {exc}") from None
    name = layer.name or (f"layer_{index}" if index or layer.where != "flags" else "layer")
    row = Row(index, name, layer.type, layer.input, forms, 1, layer.where, layer.activation)
    return layer_report(row, layer.batch or 1, layer.dtype or "float32")
