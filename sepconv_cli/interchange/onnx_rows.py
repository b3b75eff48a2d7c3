"""One report row's form as ONNX nodes (:func:`emit_row`), a one-row graph for timing on a
runtime (:func:`form_graph`), and the parameters a written graph holds
(:func:`weight_elements`): the row-level half of the writer, whose operations are
:mod:`onnx_build`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    Dense,
    LayerNorm,
    Op,
    Pool,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.interchange.onnx_build import (
    OPSET,
    PARAM_INPUTS,
    ExportError,
    Form,
    GraphBuilder,
    emit_activation,
    emit_batch_norm,
    emit_conv,
    emit_dense,
    emit_layer_norm,
    emit_pool,
    emit_scale,
    emit_shuffle,
    emit_squeeze_excite,
    nchw,
)
from sepconv_cli.interchange.onnx_sequence import SEQUENCE_ROWS, emit_sequence_row


def _part_name(op: Op, previous: str) -> str:
    """A node's part name within its row: the conv's role, ``<conv>_bn`` after a conv."""
    if isinstance(op, BatchNorm):
        return f"{previous}_bn" if previous else "bn"
    if isinstance(op, Conv):
        return op.role
    return {
        Dense: "dense",
        Pool: "pool",
        Add: "add",
        Scale: "scale",
        SqueezeExcite: "se",
        Shuffle: "shuffle",
        Concat: "concat",
        LayerNorm: "norm",
    }[type(op)]


def _inverted_residual_roles(ops: Sequence[Op]) -> dict[int, str]:
    """An inverted residual's convs by their place: ``expand`` (a first 1×1), the k×k by
    its role, ``project`` (a last 1×1: the standard form without an SE has none)."""
    convs = [i for i, op in enumerate(ops) if isinstance(op, Conv)]
    ends = {convs[0]: "expand", convs[-1]: "project"} if len(convs) > 1 else {}
    return {i: name for i, name in ends.items() if ops[i].role == "pointwise"}


def _after_bn(ops: Sequence[Op], i: int) -> int:
    """Op ``i``, or the batch-norm right after it: where an activation of op ``i`` goes."""
    return i + 1 if i + 1 < len(ops) and isinstance(ops[i + 1], BatchNorm) else i


def _activated_after(row: Row, ops: Sequence[Op]) -> dict[int, str]:
    """The activation after each op that has one (after its batch-norm): the row's after
    the last op, in an inverted residual after every conv but the last; a pair's
    ``inner_activation`` after its depthwise (its standard form has none)."""
    if not ops:
        return {}
    after: dict[int, str] = {}
    depthwise = [i for i, op in enumerate(ops) if op.role == "depthwise"]
    if row.inner_activation != "none" and depthwise:
        after[_after_bn(ops, depthwise[0])] = row.inner_activation
    if row.activation == "none":
        return after
    if row.type != "inverted_residual":
        return {**after, len(ops) - 1: row.activation}
    convs = [i for i, op in enumerate(ops) if isinstance(op, Conv)]
    return {**after, **{_after_bn(ops, i): row.activation for i in convs[:-1]}}


def emit_row(
    g: GraphBuilder,
    row: Row,
    form: Form,
    inputs: Sequence[str],
    name: str,
    *,
    activation: bool = True,
) -> str:
    """Write one instance of ``row`` in ``form`` reading ``inputs`` (the row's input, or
    the branch outputs an add or concat row merges), named ``name``; returns its output.

    A leaf row's form is a linear sequence of ops (an ``Add`` in it adds the row's input).
    ``activation=False`` leaves out the row's activation function (timing runs forms
    without it, as NumPy's does).
    """
    ops: tuple[Op, ...] = getattr(row.forms, form)
    where = f"{name} ({row.where})" if row.where else name
    if row.type in SEQUENCE_ROWS:  # resize, lstm, gru, rnn: one form (onnx_sequence.py)
        return emit_sequence_row(g, row, inputs, name, activation)
    if row.type in ("add", "concat"):
        if row.type == "concat":
            out = g.node("Concat", list(inputs), name, axis=1)
        else:
            out = inputs[0]
            for other in inputs[1:]:
                out = g.node("Add", [out, other], name)
        if activation:
            out = emit_activation(g, row.activation, out, f"{name}/{row.activation}")
        return out
    single = len(ops) == 1
    activated = _activated_after(row, ops) if activation else {}
    x, previous = inputs[0], ""
    roles = _inverted_residual_roles(ops) if row.type == "inverted_residual" else {}
    for i, op in enumerate(ops):
        part = roles.get(i) or _part_name(op, previous)
        node_name = name if single else f"{name}/{part}"
        x = _emit_op(g, op, x, inputs[0], node_name, where)
        previous = part if isinstance(op, Conv) else previous
        function = activated.get(i)
        if function is not None:
            x = emit_activation(g, function, x, f"{name}/{function}")
    return x


def _emit_op(g: GraphBuilder, op: Op, x: str, row_input: str, name: str, where: str) -> str:
    if isinstance(op, Conv):
        return emit_conv(g, op, x, name)
    if isinstance(op, BatchNorm):
        return emit_batch_norm(g, op, x, name)
    if isinstance(op, Dense):
        return emit_dense(g, op, x, name)
    if isinstance(op, Pool):
        return emit_pool(g, op, x, name, where)
    if isinstance(op, SqueezeExcite):
        return emit_squeeze_excite(g, op, x, name)
    if isinstance(op, Shuffle):
        return emit_shuffle(g, op, x, name)
    if isinstance(op, Add):  # an inverted residual's add of its input
        return g.node("Add", [x, row_input], name)
    if isinstance(op, LayerNorm):
        return emit_layer_norm(g, op, x, name)
    if isinstance(op, Scale) and op.params:
        return emit_scale(g, op, x, name)
    raise ExportError(f"{where}: a {op.role} operation has no ONNX form on its own")


def row_input_shapes(row: Row, form: Form = "as_specified") -> list[tuple[int, ...]]:
    """The channels-last shapes a row reads: its input, or every tensor it merges."""
    ops: tuple[Op, ...] = getattr(row.forms, form)
    if row.type == "concat" and isinstance(ops[0], Concat):
        return list(ops[0].in_shapes)
    if row.type == "add":
        return [row.input_shape] * (len(ops) + 1)
    return [row.input_shape]


def form_graph(
    row: Row,
    form: Form,
    seed: int = 0,
    *,
    batch: int = 1,
    dtype: str = "float32",
    activation: bool = False,
    opset: int = OPSET,
) -> Any:
    """A one-row ONNX model of ``row``'s ``form``: inputs ``input`` (``input_1`` … for an
    add or concat row), output ``output``, weights as initializers (issue 15's timing runs
    it). The activation function is left out unless ``activation`` (timing runs forms
    without it)."""
    g = GraphBuilder(seed=seed, dtype=dtype, batch=batch, opset=opset)
    g.used.update({"output"})
    shapes = row_input_shapes(row, form)
    names = ["input"] + [f"input_{i}" for i in range(1, len(shapes))]
    g.used.update(names)
    out = emit_row(g, row, form, names, row.name, activation=activation)
    g.nodes.append(g.onnx.helper.make_node("Identity", [out], ["output"], name="output"))
    inputs = [g.value_info(n, nchw(s, batch)) for n, s in zip(names, shapes, strict=True)]
    output = g.value_info("output", nchw(row.output_shape, batch))
    return g.model(inputs, [output], f"{row.name} ({form})")


def weight_elements(model: Any) -> int:
    """Parameters of an ONNX model counted as sepconv counts them: the elements of the
    initializers a Conv or Gemm reads as weight and bias, a BatchNormalization or
    LayerNormalization as scale and shift (a batch-norm's mean and variance are state, not
    parameters), and an Add or Mul of more than one value (a layer scale; a scalar such as
    GELU's 0.5 is a constant)."""
    sizes = {t.name: prod(t.dims) for t in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        elementwise = node.op_type in ("Add", "Mul")
        for index in PARAM_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index] in sizes:
                size = sizes[node.input[index]]
                total += 0 if elementwise and size <= 1 else size
    return total
