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

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import prod

from sepconv_cli.counting.liveness import Flow, Live, spec_lives
from sepconv_cli.counting.lowering import DeclaredForm, Forms, lower
from sepconv_cli.counting.ops import Add, Concat, Op, Scale
from sepconv_cli.counting.pairing import PAIR_TYPE, Pair, spec_pair
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.sources import Sources
from sepconv_cli.counting.tensor_layers import matmul_ops
from sepconv_cli.counting.tensor_ops import Elementwise
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.spec.layers import LayerSpec, ModelSpec, SpecError
from sepconv_cli.spec.sources import JOIN_TYPES
from sepconv_cli.units import shape_text

MAX_ROWS = 100_000
MAX_FLOW = 1_000_000  # steps recorded for liveness; a repeat past it is walked once


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
    # the most activation elements alive at once at the row's fullest step, per form (as
    # specified, standard, separable; batch included), by the liveness rule of
    # counting/liveness.py: set where the model is read whole (None: the row alone)
    live: Live | None = field(default=None, compare=False)

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
    # a spec's ``partial``: written from a model file it does not express whole (export-spec
    # --partial), so its totals are a lower bound
    partial: str = ""
    # a model file storing its weights in another format than it computes in (a TFLite
    # file's float16 weights on float32 activations): weight bytes at this format; "" = dtype
    weight_dtype: str = ""

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def weights_dtype(self) -> str:
        """The format weight bytes are counted in (``dtype`` unless the file says)."""
        return self.weight_dtype or self.dtype


# a numbered part of a name: "features.4" + ".0" in "features.4.0.fused", "block" + "[2" or
# "[0..2" in "block[0..2]/x" (the number it reaches: the last of a range)
_NUMBERED = re.compile(r"[.\[](\d+)(?:\.\.(\d+))?(?=[.\]\[/+]|$)")


class InstanceNumbers:
    """Where a repeat's instance numbers start, so that a row name never suggests a block
    counted twice: a repeated layer named ``base`` after siblings named ``base.0``,
    ``base.0.fused`` or ``base[0..2]`` (a preset writes torchvision's first block of a
    stage apart, with its stride) numbers its instances on from them, ``base[1..5]``, not
    again from 0. Siblings are the layers of one list (one spec level); the export walks
    them with the same numbers (``interchange/onnx_export``)."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def start(self, base: str) -> int:
        """The first instance number of a repeat named ``base``."""
        return self.next.get(base, 0)

    def saw(self, name: str, first: int = 0, repeat: int = 1) -> None:
        """A sibling named ``name`` (a repeat: instances ``first`` … of it) came before."""
        if repeat > 1:
            self._after(name, first + repeat - 1)
        for match in _NUMBERED.finditer(name):
            self._after(name[: match.start()], int(match.group(2) or match.group(1)))

    def _after(self, stem: str, number: int) -> None:
        self.next[stem] = max(self.next.get(stem, 0), number + 1)


def layer_error(layer: LayerSpec, exc: ShapeError) -> SpecError:
    """A shape problem located at the layer that caused it."""
    return SpecError(f"{layer.locate(exc.field)}: {exc}")


def lifted(layer: LayerSpec, shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """The input a layer reads: a 1×1 convolution after a flat shape (a ``global_pool``'s
    C values: MobileNetV3's and timm's conv head after the pool) reads them as a 1×1 (…×1)
    map of ``rank`` spatial dims, as a model file's Conv on an ``N×C×1×1`` tensor does;
    any other shape is read as it is."""
    if len(shape) != 1 or rank < 1:
        return shape
    one_by_one = layer.type == "pointwise" or (
        layer.type in ("conv", "separable", "depthwise")
        and layer.kernel is not None
        and set(layer.kernel) == {1}
    )
    return (*(1,) * rank, *shape) if one_by_one else shape


class _Builder(Sources):
    def __init__(self, width: Width, rank: int = 0) -> None:
        self.width = width
        self.rank = rank  # the model input's spatial dims
        self.rows: list[Row] = []
        self.last_layer = False  # the layer being built is the model's last
        # what each row reads and writes, for liveness (counting/liveness.Flow): tensors by
        # number, 0 the model input; ``current`` the tensor the next layer reads
        self.flow: list[tuple[int, tuple[int, ...], int]] = []
        self.sizes: list[int] = [0]
        self.current = 0
        self.outputs: tuple[int, ...] = ()

    def emit(
        self,
        name: str,
        layer: LayerSpec,
        shape: tuple[int, ...],
        forms: Forms,
        kind: str | None = None,
        reads: tuple[int, ...] | None = None,
    ) -> None:
        """One row of a single instance of ``layer`` (typed ``kind``, default the layer's)
        reading ``reads`` (default: the current tensor) and writing the new current tensor;
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
        self.sizes.append(prod(forms.out_shape))
        written = len(self.sizes) - 1
        self.flow.append((len(self.rows) - 1, reads or (self.current,), written))
        self.current = written

    def layers(
        self, layers: Sequence[LayerSpec], shape: tuple[int, ...], prefix: str
    ) -> tuple[int, ...]:
        position = 0
        numbers = InstanceNumbers()
        self.scopes.append(prefix)  # `from` names: this list's first (counting/sources.py)
        while position < len(layers):
            shape = lifted(layers[position], self.read_from(layers[position], shape), self.rank)
            paired = not self.unpaired(layers, position, prefix)
            pair = spec_pair(layers, position, shape, self.width) if paired else None
            if pair is not None:  # a depthwise and the pointwise it feeds: one row
                name = pair.name(prefix, position)
                self.emit_pair(pair, name, shape)
                numbers.saw(name)
                shape = pair.forms.out_shape
                self.made(prefix + (pair.pointwise.name or f"pointwise_{position + 1}"), shape)
                position += pair.span
                continue
            layer = layers[position]
            base = prefix + (layer.name or f"{layer.type}_{position}")
            self.last_layer = not prefix and position == len(layers) - 1 and layer.repeat == 1
            first = numbers.start(base)
            shape = self.repeated(layer, shape, base, first)
            self.made(base, shape)
            numbers.saw(base, first, layer.repeat)
            position += 1
        self.scopes.pop()
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

    def repeated(
        self, layer: LayerSpec, shape: tuple[int, ...], base: str, first: int = 0
    ) -> tuple[int, ...]:
        """Apply ``layer`` ``layer.repeat`` times (nested repeats multiply when folded),
        its instances numbered from ``first`` (:class:`InstanceNumbers`)."""
        remaining = layer.repeat
        instance = first
        while remaining:
            name = base if layer.repeat == 1 else f"{base}[{instance}]"
            start, steps, entry = len(self.rows), len(self.flow), self.current
            out = self.instance(layer, shape, name)
            if out == shape and remaining > 1:
                self.second_instance(steps, entry)
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

    def second_instance(self, start: int, entry: int) -> None:
        """Record the steps from ``start`` (one instance, entered from tensor ``entry``)
        once more, reading the first instance's output: a repeat folded into rows is walked
        as two instances, the second seeing what the first left alive (an outer block's
        input); every later one sees the same."""
        steps = self.flow[start:]
        if len(self.flow) + len(steps) > MAX_FLOW:
            return
        renamed = {entry: self.current}
        for row, reads, written in steps:
            self.sizes.append(self.sizes[written])
            renamed[written] = len(self.sizes) - 1
            self.flow.append((row, tuple(renamed.get(t, t) for t in reads), renamed[written]))
        self.current = renamed.get(self.current, self.current)

    def instance(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        if layer.type == "residual":
            return self.residual(layer, shape, name)
        if layer.type == "branches":
            return self.branches(layer, shape, name)
        if len(layer.sources) > 1 or layer.type in JOIN_TYPES:
            return self.reads_several(layer, shape, name)
        try:
            forms = lower(layer, shape, self.width)
        except ShapeError as exc:
            raise layer_error(layer, exc) from None
        self.emit(name, layer, shape, forms)
        return forms.out_shape

    def residual(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        """Main path and shortcut (identity when absent) from the same input, then an add."""
        entry = self.current
        main = self.layers(layer.layers, shape, f"{name}.")
        main_tensor, self.current = self.current, entry
        short = self.layers(layer.shortcut, shape, f"{name}.shortcut.")
        if main != short:
            what = "the shortcut" if layer.shortcut else "the identity shortcut (no shortcut given)"
            raise SpecError(
                f"{layer.where}: the residual add needs equal shapes, but the main "
                f"path gives {shape_text(main)} and {what} gives {shape_text(short)}"
            )
        add = (Add(main),)
        reads = (main_tensor, self.current)
        self.emit(f"{name}.add", layer, main, Forms("none", add, add, add), "add", reads)
        return main

    def branches(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        """Each branch from the block's input (or its part of a channel split: slices read
        in place, no row), then one merge row: a concat or the adds of the branches."""
        model_end = self.last_layer  # before the branches' own layers reset it
        inputs = self.split_inputs(layer, shape)
        outs = []
        entry, tensors = self.current, []  # each branch reads the input (a part in place)
        for i, (branch, part) in enumerate(zip(layer.branches, inputs, strict=True)):
            self.current = entry
            out = self.layers(branch, part, f"{name}.branch{i}.")
            tensors.append(self.current)
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
            self.emit(f"{name}.add", layer, outs[0], forms, "add", tuple(tensors))
            return outs[0]
        if layer.merge == "outputs":  # each branch one of the model's outputs: no merge row
            if not model_end:
                raise SpecError(
                    f"{layer.locate('merge')}: merge: outputs makes each branch one of the "
                    "model's outputs, so the block must be the model's last layer"
                )
            self.outputs = tuple(tensors)
            return outs[-1]
        if layer.merge == "matmul":  # attention's Q·Kᵀ and A·V (counting/tensor_layers.py)
            ops = matmul_ops(outs, layer)
            forms = Forms("none", ops, ops, ops)
            self.emit(f"{name}.matmul", layer, outs[0], forms, "matmul", tuple(tensors))
            return ops[0].out_shape
        if layer.merge in ("mul", "sub", "div"):
            product = broadcast_ops(outs, layer)
            forms = Forms("none", product, product, product)
            merge = str(layer.merge)
            self.emit(f"{name}.{merge}", layer, product[0].in_shape, forms, merge, tuple(tensors))
            return product[0].out_shape
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
        forms = Forms("none", concat, concat, concat)
        self.emit(f"{name}.concat", layer, outs[0], forms, "concat", tuple(tensors))
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


def broadcast_ops(outs: list[tuple[int, ...]], layer: LayerSpec) -> tuple[Op, ...]:
    """The ops of a ``merge: mul``, ``sub`` or ``div``: the branches' outputs multiplied
    (or the second subtracted from, or divided into, the first) elementwise, shapes
    broadcast as NumPy and ONNX broadcast them (aligned at the channels, a dim of 1 or a
    missing dim repeats). One op per branch after the first, each one FLOP per output
    value: an :class:`Add`'s cost for equal shapes, a channel-wise :class:`Scale` for a
    gate of one value per channel (a squeeze-and-excite), else an elementwise product."""
    rank = max(len(out) for out in outs)
    padded = [(1,) * (rank - len(out)) + out for out in outs]
    result = []
    for dims in zip(*padded, strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            shapes = ", ".join(shape_text(out) for out in outs)
            raise SpecError(
                f"{layer.locate('merge')}: {layer.merge} needs shapes that broadcast (equal, or 1 "
                f"where they differ), got {shapes}"
            )
        result.append(sizes.pop() if sizes else 1)
    full = tuple(result)
    gate = (*(1,) * (rank - 1), full[-1])
    base = next((i for i, out in enumerate(padded) if out == full), 0)
    ops: list[Op] = []
    for out in padded[:base] + padded[base + 1 :]:
        if out == full:
            ops.append(Add(full))
        elif out == gate:
            ops.append(Scale(full))
        else:
            ops.append(Elementwise(full, full, str(layer.merge)))
    return tuple(ops)


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
    builder = _Builder(Width(width_multiplier, spec.channel_divisor), len(input_shape) - 1)
    builder.sizes[0] = prod(input_shape)
    builder.start_sources(spec, input_shape)
    builder.layers(spec.layers, input_shape, "")
    batch = batch or spec.batch
    outputs = builder.outputs or (builder.current,)
    flow = Flow(tuple(builder.flow), tuple(builder.sizes), outputs, tuple(builder.inputs))
    lives = spec_lives(builder.rows, flow, batch)
    return Model(
        name=spec.name,
        source=spec.source,
        input_shape=input_shape,
        batch=batch,
        dtype=spec.dtype,
        rows=tuple(replace(row, live=live) for row, live in zip(builder.rows, lives, strict=True)),
        width_multiplier=width_multiplier,
        file=spec.file,
        partial=spec.partial,
    )
