"""A whole sepconv model → one ONNX graph (``sepconv export``), with the data flow of its
residual and branches blocks wired as the spec writes them.

The rows of a :class:`~sepconv_cli.counting.network.Model` are flat; the blocks' data flow
is the spec's. :class:`_Walker` walks the spec's layers exactly as the network builder
did, taking the rows in the order the builder made them:

* a layer reads the previous layer's output; a depthwise layer and the pointwise it feeds
  (:mod:`sepconv_cli.counting.pairing`) are one row, written once for both layers;
* a ``residual`` block runs its main path and its shortcut (the identity when absent)
  from the block's input, then its ``add`` row adds the two;
* a ``branches`` block runs every branch from the block's input, or from its part of the
  channel split (one ``Split`` node on axis 1), an empty branch being the identity; its
  merge row concatenates (``Concat``) or adds the branch outputs;
* a repeat the builder folded into one row of ``repeat = n`` (its instances all see the
  same shape) is unrolled again: n instances in sequence, each with its own weights, named
  ``name[i]`` where the row says ``name[i..j]``.

Each row's form is written by :func:`~sepconv_cli.interchange.onnx_rows.emit_row`
(the mapping of every operation is stated there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sepconv_cli.counting.network import InstanceNumbers, Model, Row
from sepconv_cli.interchange.onnx_build import (
    ONNX_DTYPES,
    OPSET,
    ExportError,
    Form,
    GraphBuilder,
    nchw,
)
from sepconv_cli.interchange.onnx_elementwise_emit import ELEMENTWISE_ROWS, emit_elementwise_row
from sepconv_cli.interchange.onnx_more_emit import MERGE_ROWS, MORE_ROWS, emit_more_row
from sepconv_cli.interchange.onnx_rows import emit_row, weight_elements
from sepconv_cli.interchange.onnx_tables_emit import TABLE_ROWS, emit_table_row
from sepconv_cli.interchange.onnx_tensor_emit import TENSOR_ROWS, emit_tensor_row
from sepconv_cli.spec.layers import LayerSpec, ModelSpec
from sepconv_cli.spec.sources import JOIN_TYPES

Tensor = tuple[str, tuple[int, ...]]  # an ONNX tensor name and its channels-last shape


@dataclass(frozen=True)
class Exported:
    """The exported model and, per row index, the output tensor of each of its instances
    (what a test compares with the row's shape)."""

    model: Any
    row_outputs: dict[int, list[str]] = field(default_factory=dict)
    dtype_note: str = ""

    @property
    def params(self) -> int:
        """The graph's parameters as sepconv counts them (:func:`weight_elements`)."""
        return weight_elements(self.model)


class _Walker:
    def __init__(self, model: Model, form: Form, g: GraphBuilder) -> None:
        self.rows = model.rows
        self.form = form
        self.g = g
        self.pos = 0
        self.renames: list[tuple[str, str]] = []  # folded "name[i..j]" → this instance's
        self.outputs: dict[int, list[str]] = {}
        # what `from` names (counting/sources.py's rules): row names, inputs, by scope
        self.named: dict[str, Tensor] = {}
        self.scopes: list[str] = []

    def lookup(self, ref: str) -> Tensor:
        """The tensor a ``from`` name reads: the builder's lookup (it checked the name)."""
        for scope in reversed(self.scopes):
            if scope + ref in self.named:
                return self.named[scope + ref]
        raise AssertionError(f"export: {ref!r} names no tensor the builder knew")

    def next_row(self) -> Row:
        row = self.rows[self.pos]
        self.pos += 1
        return row

    def node_name(self, row: Row) -> str:
        name = row.name
        for folded, instance in self.renames:
            name = name.replace(folded, instance, 1)
        return name

    def emit(self, row: Row, inputs: Sequence[str]) -> str:
        out = emit_row(self.g, row, self.form, inputs, self.node_name(row))
        self.outputs.setdefault(row.index, []).append(out)
        return out

    def tensor_row(
        self,
        row: Row,
        layer: LayerSpec,
        inputs: Sequence[str],
        shapes: Sequence[tuple[int, ...]] | None = None,
    ) -> str:
        """A row of a tensor layer (or a matmul merge), which needs its layer's fields."""
        more = row.type in MORE_ROWS or row.type in MERGE_ROWS  # onnx_more_emit.py
        emit = emit_more_row if more else emit_tensor_row
        if row.type in ELEMENTWISE_ROWS:  # elementwise, expand: onnx_elementwise_emit.py
            emit = emit_elementwise_row
        if row.type in TABLE_ROWS or layer.type == "concat":  # onnx_tables_emit.py
            emit = emit_table_row
        out = emit(self.g, row, layer, inputs, self.node_name(row), shapes)
        self.outputs.setdefault(row.index, []).append(out)
        return out

    def layers(self, layers: Sequence[LayerSpec], x: Tensor, prefix: str) -> Tensor:
        position = 0
        numbers = InstanceNumbers()  # the builder's numbering of repeats, sibling by sibling
        self.scopes.append(prefix)
        while position < len(layers):
            layer = layers[position]
            if layer.sources and layer.type not in JOIN_TYPES:
                x = self.lookup(layer.sources[0])
            if layer.repeat == 1 and layer.type not in ("residual", "branches"):
                row = self.rows[self.pos]
                if row.span > 1:  # a depthwise and the pointwise it feeds: the builder's row
                    numbers.saw(self.node_name(row))
                    x = self.emit(self.next_row(), [x[0]]), row.output_shape
                    pointwise = layers[position + 1]
                    self.named[prefix + (pointwise.name or f"pointwise_{position + 1}")] = x
                    position += row.span
                    continue
            base = prefix + (layer.name or f"{layer.type}_{position}")
            first = numbers.start(base)
            x = self.repeated(layer, x, base, first)
            self.named[base] = x
            numbers.saw(base, first, layer.repeat)
            position += 1
        self.scopes.pop()
        return x

    def repeated(self, layer: LayerSpec, x: Tensor, base: str, first: int = 0) -> Tensor:
        """As the builder's ``repeated``. A run it folded (its rows named ``base[i..j]``)
        is replayed: every instance reads the same rows, named ``base[k]``."""
        remaining, instance = layer.repeat, first
        while remaining:
            last = instance + remaining - 1
            folded = f"{base}[{instance}..{last}]"
            if remaining > 1 and folded in self.node_name(self.rows[self.pos]):
                start = self.pos
                for k in range(instance, last + 1):
                    self.pos = start
                    self.renames.append((folded, f"{base}[{k}]"))
                    x = self.instance(layer, x, f"{base}[{k}]")
                    self.renames.pop()
                return x
            name = base if layer.repeat == 1 else f"{base}[{instance}]"
            x = self.instance(layer, x, name)
            remaining, instance = remaining - 1, instance + 1
        return x

    def instance(self, layer: LayerSpec, x: Tensor, name: str) -> Tensor:
        if layer.type == "residual":
            main = self.layers(layer.layers, x, f"{name}.")
            short = self.layers(layer.shortcut, x, f"{name}.shortcut.")
            row = self.next_row()
            return self.emit(row, [main[0], short[0]]), row.output_shape
        if layer.type == "branches":
            return self.branches(layer, x, name)
        if len(layer.sources) > 1 or layer.type in JOIN_TYPES:  # reads several by name
            row = self.next_row()
            inputs = [self.lookup(ref)[0] for ref in layer.sources]
            if layer.type == "concat" and layer.axis:  # along the dim it names
                return self.tensor_row(row, layer, inputs), row.output_shape
            return self.emit(row, inputs), row.output_shape
        row = self.next_row()
        if row.type in TABLE_ROWS:  # a learned table (onnx_tables_emit.py)
            return self.tensor_row(row, layer, [x[0]]), row.output_shape
        if row.type in TENSOR_ROWS or row.type in MORE_ROWS or row.type in ELEMENTWISE_ROWS:
            return self.tensor_row(row, layer, [x[0]]), row.output_shape
        return self.emit(row, [x[0]]), row.output_shape

    def branches(self, layer: LayerSpec, x: Tensor, name: str) -> Tensor:
        parts = self.split(layer, x, name)
        outs = [
            self.layers(branch, part, f"{name}.branch{i}.")
            for i, (branch, part) in enumerate(zip(layer.branches, parts, strict=True))
        ]
        row = self.next_row()
        if row.type == "matmul" or row.type in MERGE_ROWS:  # a product, mul, sub, div
            shapes = [out[1] for out in outs]
            return self.tensor_row(row, layer, [out[0] for out in outs], shapes), row.output_shape
        return self.emit(row, [out[0] for out in outs]), row.output_shape

    def split(self, layer: LayerSpec, x: Tensor, name: str) -> list[Tensor]:
        count = len(layer.branches)
        if layer.split is False:
            return [x] * count
        tensor, shape = x
        channels = shape[-1]
        sizes = [channels // count] * count if layer.split is True else list(layer.split)
        outputs = self.split_channels(tensor, sizes, name)
        return [(out, (*shape[:-1], size)) for out, size in zip(outputs, sizes, strict=True)]

    def split_channels(self, tensor: str, sizes: list[int], name: str) -> list[str]:
        """``tensor``'s channels cut into parts of ``sizes``: the parts' names (a writer of
        another format overrides this alone)."""
        g = self.g
        split_name = g.unique(f"{name}/split")
        outputs = [g.unique(f"{split_name}:{i}") for i in range(len(sizes))]
        sizes_name = g.constant(f"{split_name}.sizes", np.array(sizes, np.int64))
        g.nodes.append(
            g.onnx.helper.make_node("Split", [tensor, sizes_name], outputs, name=split_name, axis=1)
        )
        return outputs


def export_model(
    spec: ModelSpec,
    model: Model,
    form: Form = "as_specified",
    seed: int = 0,
    opset: int = OPSET,
) -> Exported:
    """``model`` (built from ``spec``) as an ONNX graph of ``form``: input ``input``
    ``[N, C, *spatial]`` (or each of the spec's ``inputs``, by its name), output
    ``output``, every row's instances in order."""
    g = GraphBuilder(seed=seed, dtype=model.dtype, batch=model.batch, opset=opset)
    named = list(spec.inputs) or [("input", model.input_shape)]  # several: spec/sources.py
    named[0] = (named[0][0], model.input_shape)  # --resolution's
    g.used.update({"output", *(n for n, _ in named)})
    walker = _Walker(model, form, g)
    walker.named = {n: (n, s) for n, s in named}
    out, shape = walker.layers(spec.layers, named[0], "")
    if walker.pos != len(model.rows):  # the walk mirrors the builder: a bug if not
        raise AssertionError(f"export walked {walker.pos} of {len(model.rows)} rows")
    g.nodes.append(g.onnx.helper.make_node("Identity", [out], ["output"], name="output"))
    inputs = [g.value_info(n, nchw(s, model.batch)) for n, s in named]
    outputs = [g.value_info("output", nchw(shape, model.batch))]
    proto = g.model(inputs, outputs, model.name or "sepconv")
    annotate_shapes(g.onnx, proto)
    if model.source:
        g.onnx.helper.set_model_props(proto, {"source": model.source})
    note = ""
    if model.dtype not in ONNX_DTYPES:
        note = (
            f"dtype {model.dtype}: written as float32 (ONNX Runtime's CPU convolutions take "
            "float32 and float16)"
        )
    return Exported(proto, walker.outputs, note)


PROTOBUF_LIMIT = 2**31 - 1  # bytes: the most one serialized protobuf message may hold


def serialize(model: Any, where: str) -> bytes:
    """The model file's bytes; a model past protobuf's 2 GB is an error naming its size
    (lower ``--width-multiplier`` or export the separable form).

    The size is the weights' bytes (from their dims: protobuf's own ``ByteSize`` walks the
    whole message, seconds for a big graph) plus the rest of the message.
    """
    from math import prod

    weights = 0
    for tensor in model.graph.initializer:
        itemsize = {tensor.FLOAT16: 2, tensor.INT64: 8}.get(tensor.data_type, 4)
        weights += prod(tensor.dims) * itemsize
    # the nodes, names and shapes: well under a megabyte per thousand nodes
    size = weights + 1024 * len(model.graph.node)
    if size > PROTOBUF_LIMIT:
        raise ExportError(
            f"{where}: the graph is {size / 2**30:.1f} GiB with its weights, past the 2 GiB "
            "an ONNX file can hold without external data; lower --width-multiplier or "
            "export --form separable"
        )
    data: bytes = model.SerializeToString()
    return data


def annotate_shapes(onnx: Any, model: Any) -> None:
    """Record every intermediate tensor's shape in ``model.graph.value_info`` (Netron shows
    them on the edges), from ONNX's shape inference run on a copy whose weights are graph
    inputs of the same shape: inference reads only their shapes, and the copy skips the
    weights (hundreds of MB in a big standard form)."""
    graph = model.graph
    weights = [t for t in graph.initializer if t.data_type != onnx.TensorProto.INT64]
    kept = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT64]
    as_inputs = [
        onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in weights
    ]
    copy = onnx.helper.make_model(
        onnx.helper.make_graph(
            list(graph.node), graph.name, [*graph.input, *as_inputs], list(graph.output), kept
        ),
        opset_imports=list(model.opset_import),
        ir_version=model.ir_version,
    )
    inferred = onnx.shape_inference.infer_shapes(copy)
    graph.value_info.extend(inferred.graph.value_info)
