"""Shape propagation through a model: specs → report rows, with repeats and residual blocks.

Rows are the unit of reporting: one per distinct layer instance, except that a depthwise
layer and the pointwise layer it feeds are one row (one depthwise-separable convolution:
:mod:`sepconv_cli.counting.pairing`). A repeated layer whose
output shape equals its input shape makes identical instances from then on, so the rest of
the repeat collapses into one row with ``repeat = n`` whose counts cover all n (counting
cost does not grow with the repeat count). Layers that change the shape are unrolled, up to
``MAX_ROWS`` rows in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from math import prod

from sepconv_cli.counting.lowering import DeclaredForm, Forms, lower
from sepconv_cli.counting.ops import Add, Concat
from sepconv_cli.counting.pairing import PAIR_TYPE, Pair, spec_pair
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.layers import LayerSpec, ModelSpec, SpecError
from sepconv_cli.units import shape_text

MAX_ROWS = 100_000


@dataclass(frozen=True)
class Row:
    """One distinct layer instance (``repeat`` identical copies in sequence)."""

    index: int
    name: str
    type: str  # the layer's LayerType, or "add" for the add that closes a residual block
    input_shape: tuple[int, ...]
    forms: Forms
    repeat: int = 1
    where: str = ""
    activation: str = "none"  # the activation function after the row's layer (or add)
    # a depthwise-separable pair (counting/pairing.py): the depthwise's activation, on its
    # output inside the row (counted in every form), and how many spec layers the row is
    inner_activation: str = "none"
    span: int = 1
    # items this row runs on when they are not the model's batch: a model file's node whose
    # leading dim holds windows or patches (MobileViT's (4, 256, 64) tokens), or a node on
    # constants that runs once whatever the batch; None = the model's batch
    batch: int | None = None

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.forms.out_shape

    @property
    def activations(self) -> tuple[str, ...]:
        """Every activation function the row applies, in order ("none" left out)."""
        return tuple(f for f in (self.inner_activation, self.activation) if f != "none")

    @property
    def form(self) -> DeclaredForm:
        return self.forms.declared


@dataclass(frozen=True)
class Uncounted:
    """A node of a model file (ONNX) that sepconv does not count: the totals are then a lower
    bound, and reports say so."""

    node: str
    op_type: str
    reason: str


@dataclass(frozen=True)
class Model:
    name: str
    source: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    rows: tuple[Row, ...]
    width_multiplier: Fraction = Fraction(1)
    file: str = ""
    # read from a graph file (``"onnx"``) rather than a spec: its nodes not counted, and
    # what the reader found that a report should state (batch-norm folded or not, ...)
    graph_format: str = ""
    uncounted: tuple[Uncounted, ...] = ()
    graph_notes: tuple[str, ...] = ()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape if self.rows else self.input_shape


def layer_error(layer: LayerSpec, exc: ShapeError) -> SpecError:
    """A shape problem located at the layer that caused it."""
    return SpecError(f"{layer.locate(exc.field)}: {exc}")


class _Builder:
    def __init__(self, width: Width) -> None:
        self.width = width
        self.rows: list[Row] = []

    def emit(
        self,
        name: str,
        layer: LayerSpec,
        shape: tuple[int, ...],
        forms: Forms,
        kind: str | None = None,
    ) -> None:
        """One row of a single instance of ``layer`` (typed ``kind``, default the layer's);
        folding a repeat multiplies it afterwards."""
        if len(self.rows) >= MAX_ROWS:
            raise SpecError(
                f"{layer.where}: the model unrolls to more than {MAX_ROWS:,} distinct layer "
                "instances (a repeated layer that keeps changing shape); lower its repeat"
            )
        row_type = layer.type if kind is None else kind
        self.rows.append(
            Row(len(self.rows), name, row_type, shape, forms, 1, layer.where, layer.activation)
        )

    def layers(
        self, layers: Sequence[LayerSpec], shape: tuple[int, ...], prefix: str
    ) -> tuple[int, ...]:
        position = 0
        while position < len(layers):
            pair = spec_pair(layers, position, shape, self.width)
            if pair is not None:  # a depthwise and the pointwise it feeds: one row
                self.emit_pair(pair, pair.name(prefix, position), shape)
                shape = pair.forms.out_shape
                position += pair.span
                continue
            layer = layers[position]
            base = prefix + (layer.name or f"{layer.type}_{position}")
            shape = self.repeated(layer, shape, base)
            position += 1
        return shape

    def emit_pair(self, pair: Pair, name: str, shape: tuple[int, ...]) -> None:
        """The one row of a depthwise-separable pair: the pointwise's activation after it,
        the depthwise's inside it."""
        self.emit(name, pair.depthwise, shape, pair.forms, PAIR_TYPE)
        self.rows[-1] = replace(
            self.rows[-1],
            activation=pair.pointwise.activation,
            inner_activation=pair.depthwise.activation,
            span=pair.span,
        )

    def repeated(self, layer: LayerSpec, shape: tuple[int, ...], base: str) -> tuple[int, ...]:
        """Apply ``layer`` ``layer.repeat`` times (nested repeats multiply when folded)."""
        remaining = layer.repeat
        instance = 0
        while remaining:
            name = base if layer.repeat == 1 else f"{base}[{instance}]"
            start = len(self.rows)
            out = self.instance(layer, shape, name)
            if out == shape and remaining > 1:
                # every later instance sees the same input: fold them into these rows
                last = instance + remaining - 1
                for i in range(start, len(self.rows)):
                    row = self.rows[i]
                    self.rows[i] = replace(
                        row,
                        repeat=row.repeat * remaining,
                        name=row.name.replace(
                            f"{base}[{instance}]", f"{base}[{instance}..{last}]", 1
                        ),
                    )
                return out
            shape, remaining, instance = out, remaining - 1, instance + 1
        return shape

    def instance(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        if layer.type == "residual":
            return self.residual(layer, shape, name)
        if layer.type == "branches":
            return self.branches(layer, shape, name)
        try:
            forms = lower(layer, shape, self.width)
        except ShapeError as exc:
            raise layer_error(layer, exc) from None
        self.emit(name, layer, shape, forms)
        return forms.out_shape

    def residual(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        """Main path and shortcut (identity when absent) from the same input, then an add."""
        main = self.layers(layer.layers, shape, f"{name}.")
        short = self.layers(layer.shortcut, shape, f"{name}.shortcut.")
        if main != short:
            what = "the shortcut" if layer.shortcut else "the identity shortcut (no shortcut given)"
            raise SpecError(
                f"{layer.where}: the residual add needs equal shapes, but the main "
                f"path gives {shape_text(main)} and {what} gives {shape_text(short)}"
            )
        add = (Add(main),)
        self.emit(f"{name}.add", layer, main, Forms("none", add, add, add), kind="add")
        return main

    def branches(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        """Each branch from the block's input (or its part of a channel split: slices read
        in place, no row), then one merge row: a concat or the adds of the branches."""
        inputs = self.split_inputs(layer, shape)
        outs = []
        for i, (branch, part) in enumerate(zip(layer.branches, inputs, strict=True)):
            out = self.layers(branch, part, f"{name}.branch{i}.")
            if prod(out) == 0:
                raise SpecError(f"{layer.where}: branch {i} leaves an empty tensor {out}")
            outs.append(out)
        if layer.merge == "add":
            if len(set(outs)) != 1:
                shapes = ", ".join(shape_text(out) for out in outs)
                raise SpecError(
                    f"{layer.locate('merge')}: add needs equal shapes from every "
                    f"branch, got {shapes}"
                )
            adds = tuple(Add(outs[0]) for _ in outs[1:])
            forms = Forms("none", adds, adds, adds)
            self.emit(f"{name}.add", layer, outs[0], forms, kind="add")
            return outs[0]
        if any(len(out) < 2 for out in outs):
            raise SpecError(
                f"{layer.locate('merge')}: concat joins spatial tensors along "
                f"channels; a branch gives the flat shape "
                f"{shape_text(next(out for out in outs if len(out) < 2))}"
            )
        try:
            concat = (Concat(tuple(outs)),)
        except ShapeError as exc:
            raise layer_error(layer, exc) from None
        self.emit(f"{name}.concat", layer, outs[0], Forms("none", concat, concat, concat), "concat")
        return concat[0].out_shape

    @staticmethod
    def split_inputs(layer: LayerSpec, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Each branch's input: the whole input, or its part of the channel split."""
        count = len(layer.branches)
        if layer.split is False:
            return [shape] * count
        channels = shape[-1]
        if layer.split is True:
            if channels % count:
                raise SpecError(
                    f"{layer.locate('split')}: {channels} channels do not split into "
                    f"{count} equal parts (one per branch)"
                )
            sizes = [channels // count] * count
        else:
            sizes = list(layer.split)
            if sum(sizes) != channels:
                raise SpecError(
                    f"{layer.locate('split')}: the parts sum to {sum(sizes)} channels, "
                    f"but the input has {channels}"
                )
        return [(*shape[:-1], size) for size in sizes]


def build(
    spec: ModelSpec,
    *,
    width_multiplier: Fraction = Fraction(1),
    resolution: tuple[int, ...] | None = None,
    batch: int | None = None,
) -> Model:
    """Propagate shapes through ``spec`` and lower every layer into report rows.

    ``resolution`` replaces the input's spatial size (one value for every dim, or one per
    dim); ``width_multiplier`` scales every layer's ``filters`` (dense ``units`` are class
    counts and are never scaled) with the model's ``channel_divisor`` rounding.
    """
    input_shape = spec.input
    if resolution is not None:
        rank = len(input_shape) - 1
        if len(resolution) not in (1, rank):
            raise UsageError(
                f"--resolution: expected 1 or {rank} values for this "
                f"{rank}-D model, got {shape_text(resolution)}"
            )
        spatial = resolution * rank if len(resolution) == 1 else resolution
        input_shape = (*spatial, input_shape[-1])
    builder = _Builder(Width(width_multiplier, spec.channel_divisor))
    builder.layers(spec.layers, input_shape, "")
    return Model(
        name=spec.name,
        source=spec.source,
        input_shape=input_shape,
        batch=batch or spec.batch,
        dtype=spec.dtype,
        rows=tuple(builder.rows),
        width_multiplier=width_multiplier,
        file=spec.file,
    )
