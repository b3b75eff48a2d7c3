"""An ONNX graph → a :class:`~sepconv_cli.counting.network.Model` of rows, as a YAML spec
builds one, so every report, format, gate and ``compare`` reads it unchanged.

Walks the nodes in the graph's (topological) order, computing every output shape
(:mod:`onnx_shapes`, :mod:`onnx_nodes`) and checking it against onnx's own shape inference:
a disagreement is an error naming the node. Then, as the model reads:

* a BatchNormalization right after a Conv (its only reader) joins the conv's row as the
  YAML ``batch_norm`` does (so the separable form has one after each of its convs); when
  there is none, the exporter folded it into the conv's bias, and the report says which;
* an activation joins the row that produced its input (``x · sigmoid(x)`` is a SiLU,
  ``x · hardsigmoid(x)`` a hard-swish), as a YAML ``activation``;
* a MatMul's bias Add joins the MatMul;
* rows are named by the module path the exporter recorded (``/layer1/layer1.0/conv1/Conv``
  → ``layer1.0.conv1``), and consecutive identical blocks fold into one (:mod:`onnx_repeats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from math import prod
from pathlib import Path
from typing import Any

from sepconv_cli.counting.lowering import Forms, lower
from sepconv_cli.counting.network import Model, Row, Uncounted
from sepconv_cli.counting.ops import Conv, Dense, Passthrough, ops_cost
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_audit import check_counts, independent_macs
from sepconv_cli.interchange.onnx_inputs import graph_inputs, pin_inputs
from sepconv_cli.interchange.onnx_load import Shape, load_graph, onnx_inferred_shapes
from sepconv_cli.interchange.onnx_nodes import (
    Activation,
    Hidden,
    NotCounted,
    Outcome,
    channels_last,
    count_node,
    one,
    written_out_gelu,
)
from sepconv_cli.interchange.onnx_repeats import fold_repeats
from sepconv_cli.interchange.onnx_shapes import (
    FOLD_LIMIT,
    NodeShapeError,
    Tensors,
    fold,
    mark_weights,
)
from sepconv_cli.interchange.onnx_tensor_nodes import (
    ELEMENTWISE_FLOPS,
    REDUCTIONS,
    elementwise,
    items_of,
    per_item,
)

DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 3: "int8", 2: "int8"}
"""ONNX element types → sepconv dtypes (bytes per value); others count as float32."""


MODULE_OPS = frozenset(
    {"Add", "Sub", "Mul", "Div", "Concat", "MatMul", "Einsum", "Softmax"}
    | set(ELEMENTWISE_FLOPS)
    | REDUCTIONS
)
"""Ops that are a step inside a module's forward (``/layer1/layer1.0/Add``), named after
the module plus the op; any other node is named after its module (``/conv1/Conv``)."""

RELABELS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
"""Data movement that keeps every value: an activation after one is still its row's."""

FILE_ORDER = frozenset({"dense", "matmul", "recurrent", "elementwise", "activation", "reduce"})
"""Row types whose operation has no channel axis of its own (a product, a function of every
value): their shapes read in the file's order, batch apart, not channels-last."""

MAC_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "LSTM", "GRU", "RNN"})
"""Nodes that carry multiply-accumulates: counted even when every input is a constant."""


@dataclass
class _Row:
    name: str
    type: str
    input_shape: Shape
    forms: Forms
    where: str
    spec: Any = None
    activation: str = "none"
    bias_free_matmul: bool = False
    batch: int | None = None  # the row's own items (windows in dim 0), when not the model's


@dataclass
class _Walk:
    path: Path
    tensors: Tensors
    inferred: dict[str, Shape]
    readers: dict[str, list[int]]
    rows: list[_Row] = field(default_factory=list)
    producer: dict[str, int] = field(default_factory=dict)  # tensor -> row that made it
    uncounted: list[Uncounted] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)  # nodes already absorbed (a SiLU's Mul)
    all_nodes: bool = False  # data-movement and shape nodes get rows too (free ones)
    notes: list[str] = field(default_factory=list)  # for the report's footer
    fused_bn: int = 0
    separate_bn: int = 0
    convs: int = 0
    # Constant nodes by output: a pattern may need a constant the walk has not reached yet
    constants: dict[str, Any] = field(default_factory=dict)
    batch: int = 1  # the model's: its first input's leading dim
    # a data-movement node's output → its input, when it is that input's only reader (a
    # classifier's Reshape before its Softmax): an activation still joins the row behind it
    alias: dict[str, str] = field(default_factory=dict)
    constant_work: list[str] = field(default_factory=list)  # MAC nodes on constants only
    # for the final check (onnx_audit): MACs the rows count for each MAC node, by position,
    # and the positions of the nodes named as not counted
    node_macs: dict[int, int] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)


def module_path(node: Any, index: int) -> str:
    """The row name: the exporter's module path (``/layer1/layer1.0/conv1/Conv`` →
    ``layer1.0.conv1``), else the node's name, else ``OpType_index``."""
    name = node.name or ""
    if name.startswith("/") and name.count("/") == 1:  # "/Flatten": an op of the top module
        return str(node.op_type).lower()
    if name.startswith("/") and name.count("/") >= 2:
        modules: list[str] = []
        for part in (p for p in name.split("/")[1:-1] if p):
            if modules and part.startswith(modules[-1] + "."):
                modules[-1] = part  # "layer1", "layer1.0": the second is the first's child
            else:
                modules.append(part)
        if modules:
            path = ".".join(modules)
            # an op inside a module (a residual add) rather than the module itself
            return f"{path}.{node.op_type.lower()}" if node.op_type in MODULE_OPS else path
    return name or f"{node.op_type}_{index}"


def read_onnx(
    path: Path,
    input_shapes: dict[str, Shape] | None = None,
    batch: int | None = None,
    all_nodes: bool = False,
) -> tuple[Model, list[str]]:
    """The model in ``path`` and the notes for stderr (a defaulted batch, a skipped check).
    ``all_nodes`` gives the free data-movement and shape nodes rows of their own."""
    proto = load_graph(path)
    notes: list[str] = []
    shapes = pin_inputs(proto, path, input_shapes or {}, notes, batch)
    tensors = Tensors(base_dir=path.parent, opset=_opset(proto))
    for tensor in proto.graph.initializer:
        tensors.initializers[tensor.name] = tensor
        tensors.shapes[tensor.name] = tuple(tensor.dims)
    # torch.onnx shares initializers of equal values (zero biases, unit norm scales) through
    # Identity nodes: such an output is that initializer to every rule that asks whether an
    # input is a weight (a MatMul's bias, a norm's scale), and counts once per reader
    for node in proto.graph.node:
        if node.op_type == "Identity" and node.input and node.input[0] in tensors.initializers:
            tensors.initializers[node.output[0]] = tensors.initializers[node.input[0]]
            tensors.shapes[node.output[0]] = tensors.shapes[node.input[0]]
    tensors.shapes.update(shapes)
    inferred, failure = onnx_inferred_shapes(proto, shapes)
    graph_notes: list[str] = []
    if failure and inferred:
        graph_notes.append(
            f"onnx's strict shape inference stopped ({failure}): the shapes its lenient pass "
            "found check sepconv's; the others are sepconv's own, unchecked"
        )
    elif failure:
        graph_notes.append(
            f"onnx shape inference did not run ({failure}): shapes are sepconv's own, unchecked"
        )
    readers: dict[str, list[int]] = {}
    for i, node in enumerate(proto.graph.node):
        for name in node.input:
            readers.setdefault(name, []).append(i)
    for output in proto.graph.output:
        readers.setdefault(output.name, []).append(-1)
    first = graph_inputs(proto)[0]
    input_shape = shapes[first.name]
    walk = _Walk(path, tensors, inferred, readers, all_nodes=all_nodes)
    walk.batch = input_shape[0] if input_shape else 1
    nodes = list(proto.graph.node)
    mark_weights(nodes, tensors)
    walk.constants = {n.output[0]: n for n in nodes if n.op_type == "Constant" and n.output}
    for i in range(len(nodes)):
        if i not in walk.skip:
            _visit(walk, nodes, i)
    _check(walk, proto, nodes, shapes)
    graph_notes += walk.notes
    if walk.constant_work:
        graph_notes.append(
            f"{len(walk.constant_work)} node(s) with MACs read only constants "
            f"({', '.join(walk.constant_work[:3])}{', …' if len(walk.constant_work) > 3 else ''}"
            "): counted as rows, once, though a runtime may fold them"
        )
    graph_notes.append(_bn_note(walk))
    if not walk.rows:
        kinds = ", ".join(sorted({u.op_type for u in walk.uncounted})) or "none"
        raise UsageError(
            f"{path}: no node of this graph is one sepconv counts (node types: {kinds})"
        )
    rows = [
        Row(k, r.name, r.type, r.input_shape, r.forms, 1, r.where, r.activation, batch=r.batch)
        for k, r in enumerate(walk.rows)
    ]
    opset = _opset(proto)
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p)
    model = Model(
        name=path.stem,  # exporters' graph names say little ("main_graph", "torch_jit")
        source=f"ONNX file{f' from {producer}' if producer else ''}, opset {opset}"
        + (f", graph {proto.graph.name}" if proto.graph.name else ""),
        input_shape=_shown_input(proto, first.name, input_shape),
        batch=batch or input_shape[0],
        dtype=DTYPES.get(first.type.tensor_type.elem_type, "float32"),
        rows=tuple(fold_repeats(rows)),
        file=str(path),
        graph_format="onnx",
        uncounted=tuple(walk.uncounted),
        graph_notes=tuple(graph_notes),
    )
    return model, notes


def _opset(proto: Any) -> int:
    """The model's default-domain opset (0 when it names none)."""
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _check(walk: _Walk, proto: Any, nodes: Sequence[Any], inputs: dict[str, Shape]) -> None:
    """The final check (:mod:`onnx_audit`): every MAC node counted as onnx's shapes say,
    or named; the rows' sum the sum of their nodes."""
    known: dict[str, Shape] = {t.name: tuple(t.dims) for t in proto.graph.initializer}
    known.update(
        {n: walk.tensors.shapes[n] for n in walk.tensors.weights if n in walk.tensors.shapes}
    )
    known.update(inputs)
    known.update(walk.inferred)
    rows_total = sum(
        ops_cost(r.forms.as_specified, walk.batch if r.batch is None else r.batch, 4).macs
        for r in walk.rows
    )
    independent = independent_macs(nodes, known)
    check_counts(str(walk.path), nodes, independent, walk.node_macs, walk.named, rows_total)


def _shown_input(proto: Any, name: str, shape: Shape) -> Shape:
    """The model's input as the report shows it, channels-last with the batch apart: an
    NCHW input turned (``(1, 3, 224, 224)`` → ``224×224×3``), an NHWC one (a TensorFlow
    export, whose first reader transposes it to NCHW) as it is."""
    readers = [n for n in proto.graph.node if name in n.input]
    to_nchw = bool(readers) and all(
        n.op_type == "Transpose"
        and [a.ints for a in n.attribute if a.name == "perm"]
        == [[0, len(shape) - 1, *range(1, len(shape) - 1)]]
        for n in readers
    )
    return tuple(shape[1:]) if to_nchw and len(shape) >= 3 else channels_last(shape)


def _bn_note(walk: _Walk) -> str:
    if walk.fused_bn or walk.separate_bn:
        return (
            f"Batch-norm: {walk.fused_bn + walk.separate_bn} BatchNormalization node(s) in the "
            f"graph, counted as in YAML ({walk.fused_bn} after a conv, joined to its row; "
            f"{walk.separate_bn} on their own)."
        )
    if walk.convs:
        return (
            "Batch-norm: no BatchNormalization node; if the model had any, the exporter "
            "folded it into the convolutions' weights and biases (counted as their bias)."
        )
    return "Batch-norm: none in the graph."


def _visit(walk: _Walk, nodes: Sequence[Any], index: int) -> None:
    node = nodes[index]
    tensors = walk.tensors
    name = module_path(node, index)
    where = _where(walk, node, index)
    large = _large_constant(node)
    if large is not None:  # a weight kept in a Constant node (paddle2onnx): its shape only
        tensors.shapes[node.output[0]] = large
        _free_row(walk, node, name, where)
        return
    values = fold(node, tensors)
    if values is not None:
        for output, value in zip(node.output, values, strict=False):
            tensors.values[output] = value
            tensors.shapes[output] = tuple(int(d) for d in value.shape)
        if node.op_type not in MAC_OPS:
            _free_row(walk, node, name, where)
            return
        # work on constants alone (EdgeNeXt's positional encoding): a runtime may fold it,
        # but the model holds it, so it is a row (counted once), never dropped
        walk.constant_work.append(node.name or f"#{index}")
    if node.op_type == "Div" and _decomposed_gelu(walk, nodes, index):
        return
    ins = [n for n in node.input if n]
    missing = [n for n in ins if n not in tensors.shapes]
    outcome: Outcome
    outs: list[Shape]
    if node.op_type in ("If", "Loop", "Scan"):
        outcome, outs = NotCounted("control flow (a subgraph) is not counted"), []
    elif missing:
        outcome, outs = NotCounted(f"the shape of its input {missing[0]!r} is unknown"), []
    else:
        try:
            outcome, outs = count_node(node, [tensors.shapes[n] for n in ins], tensors, where, name)
        except NodeShapeError as exc:
            outcome, outs = NotCounted(str(exc)), []
    for k, output in enumerate(node.output):
        if not output:
            continue
        ours = outs[k] if k < len(outs) else None
        theirs = walk.inferred.get(output)
        if ours is not None and theirs is not None and ours != theirs and _ceil_pool(node):
            # onnx's inference keeps a last window that starts in the padding; onnxruntime
            # and PyTorch drop it, as sepconv does: trust ours, and check no further (every
            # later inferred shape builds on theirs)
            walk.notes.append(
                f"{where}: onnx shape inference gives {_dims(theirs)}, onnxruntime and "
                f"PyTorch {_dims(ours)} (ceil_mode's last window starts in the padding); "
                "shapes after it are sepconv's own, unchecked"
            )
            walk.inferred.clear()
        elif ours is not None and theirs is not None and ours != theirs:
            raise UsageError(
                f"{where}: sepconv computes output {output!r} as {_dims(ours)} but onnx "
                f"shape inference gives {_dims(theirs)}"
            )
        shape = ours if ours is not None else theirs
        if shape is not None:
            tensors.shapes[output] = shape
    _place(walk, nodes, index, outcome, name, where)


def _large_constant(node: Any) -> Shape | None:
    """The dims of a ``Constant`` node's value when it is larger than any shape arithmetic
    needs (a weight): read as a shape, never as values."""
    if node.op_type != "Constant" or len(node.attribute) != 1:
        return None
    attribute = node.attribute[0]
    if attribute.name != "value" or prod(attribute.t.dims) <= FOLD_LIMIT:
        return None
    return tuple(int(d) for d in attribute.t.dims)


def _where(walk: _Walk, node: Any, index: int) -> str:
    return f"{walk.path}: node {node.name or index} ({node.op_type})"


def _free_row(walk: _Walk, node: Any, name: str, where: str) -> None:
    """With ``--all-nodes``, a row for a node that costs nothing (its forms count zero)."""
    if not walk.all_nodes:
        return
    first = next((n for n in node.input if n), "")
    in_shape = channels_last(walk.tensors.shapes.get(first, ()))
    out_shape = channels_last(walk.tensors.shapes.get(node.output[0], ())) if node.output else ()
    op = Passthrough(in_shape, out_shape)
    walk.rows.append(_Row(name, node.op_type.lower(), in_shape, one(op), where))


def _ceil_pool(node: Any) -> bool:
    return node.op_type in ("MaxPool", "AveragePool") and any(
        a.name == "ceil_mode" and a.i for a in node.attribute
    )


def _dims(shape: Shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _only_reader(walk: _Walk, tensor: str) -> int | None:
    """The row that produced ``tensor`` when nothing else reads it."""
    row = walk.producer.get(tensor)
    return row if row is not None and len(walk.readers.get(tensor, [])) == 1 else None


def _place(
    walk: _Walk, nodes: Sequence[Any], index: int, outcome: Outcome, name: str, where: str
) -> None:
    node = nodes[index]
    out = node.output[0] if node.output else ""
    if isinstance(outcome, Hidden):
        data = node.input[0] if node.input else ""
        if node.op_type in RELABELS and data and len(walk.readers.get(data, [])) == 1:
            walk.alias[out] = walk.alias.get(data, data)
        _free_row(walk, node, name, where)
        return
    if isinstance(outcome, NotCounted):
        walk.uncounted.append(Uncounted(node.name or f"#{index}", node.op_type, outcome.reason))
        walk.named.add(index)
        return
    if isinstance(outcome, Activation):
        _activation(walk, nodes, index, outcome.function)
        return
    if outcome.type == "batch_norm":
        row = _only_reader(walk, node.input[0])
        target = walk.rows[row] if row is not None else None
        if (
            row is not None
            and target is not None
            and target.spec is not None
            and target.activation == "none"
            and target.spec.batch_norm == "none"
        ):
            target.spec = replace(target.spec, batch_norm="each")
            target.forms = lower(target.spec, target.input_shape, Width())
            walk.producer[out] = row
            walk.fused_bn += 1
            return
        walk.separate_bn += 1
    if outcome.type in ("add",) and _matmul_bias(walk, node, out):
        return
    if outcome.type == "conv":
        walk.convs += 1
    first = next((n for n in node.input if n and not walk.tensors.is_weight(n)), "")
    in_shape = walk.tensors.shapes.get(first, ())
    if outcome.items is not None:
        items = outcome.items
    else:
        items = items_of(walk.tensors.shapes.get(out, in_shape))
    if node.op_type in MAC_OPS:
        walk.node_macs[index] = ops_cost(outcome.forms.as_specified, items, 4).macs
    kind = outcome.type
    if kind == "conv":  # a 1×1 or depthwise Conv reads as the YAML types do
        kind = {"conv": "conv"}.get(
            outcome.forms.as_specified[0].role, outcome.forms.as_specified[0].role
        )
    # a layout-free operation's input reads in the file's own order, batch apart
    shown = per_item(in_shape) if kind in FILE_ORDER else channels_last(in_shape)
    walk.rows.append(
        _Row(
            name,
            kind,
            shown,
            outcome.forms,
            where,
            outcome.spec,
            activation=outcome.activation,
            bias_free_matmul=outcome.bias_free_matmul,
            batch=None if items == walk.batch else items,
        )
    )
    walk.producer[out] = len(walk.rows) - 1


def _matmul_bias(walk: _Walk, node: Any, out: str) -> bool:
    """``MatMul → Add(bias vector)`` is a dense layer with a bias (a Linear): it joins the
    MatMul's row."""
    computed = [n for n in node.input if not walk.tensors.is_weight(n)]
    bias = [n for n in node.input if walk.tensors.is_weight(n)]
    if len(computed) != 1 or len(bias) != 1:
        return False
    row = _only_reader(walk, computed[0])
    if row is None or not walk.rows[row].bias_free_matmul:
        return False
    target = walk.rows[row]
    op = target.forms.as_specified[0]
    biased: Dense | Conv
    if isinstance(op, Dense):
        biased, units = replace(op, bias=True), op.units
    elif isinstance(op, Conv):
        biased, units = replace(op, bias=True), op.out_channels
    else:
        return False
    if walk.tensors.shapes.get(bias[0]) not in ((units,), (1, units)):
        return False
    target.forms = one(biased)
    target.bias_free_matmul = False
    walk.producer[out] = row
    return True


class _GraphOutput:
    """A graph output among a tensor's readers: no node, so no pattern takes it."""

    op_type = ""


def _decomposed_gelu(walk: _Walk, nodes: Sequence[Any], index: int) -> bool:
    """The GELU exporters write out below opset 20 (onnx_nodes.written_out_gelu), starting at
    the ``Div`` ``nodes[index]``: one ``gelu`` activation on the row that produced x, as a
    ``Gelu`` node is (its FLOPs apart, by the activation convention), instead of four
    elementwise rows and an ``Erf`` not counted."""

    def readers(tensor: str) -> list[Any]:
        return [nodes[i] if i >= 0 else _GraphOutput() for i in walk.readers.get(tensor, [])]

    def scalar(tensor: str) -> float | None:
        value = walk.tensors.value(tensor)
        if value is None and tensor in walk.constants:  # a Constant node later in the graph
            folded = fold(walk.constants[tensor], walk.tensors)
            value = folded[0] if folded else None
        return float(value) if value is not None and value.size == 1 else None

    x = nodes[index].input[0]
    matched = written_out_gelu(x, readers, scalar, lambda a, b: a == b)
    if matched is None or matched[0] is not nodes[index]:
        return False
    # (a match is rare: the node positions are looked up only then)
    position = {id(node): i for i, node in enumerate(nodes)}
    later = [position[id(node)] for node in matched[1:]]
    row = walk.producer.get(x)
    # each node not visited yet (the x · 0.5 of sepconv's order might come first), and x
    # the output of a row with no activation of its own
    if min(later) < index or row is None or walk.rows[row].activation != "none":
        return False
    walk.rows[row].activation = "gelu"
    shape = walk.tensors.shapes[x]
    for node in matched:
        walk.tensors.shapes[node.output[0]] = shape
    walk.skip.update(later)
    walk.producer[matched[-1].output[0]] = row
    return True


def _activation(walk: _Walk, nodes: Sequence[Any], index: int, function: str) -> None:
    """Join ``function`` to the row that produced the input; ``x·σ(x)`` and ``x·hσ(x)``
    (the Mul reading both) are one SiLU / hard-swish."""
    node = nodes[index]
    x, out = node.input[0], node.output[0]
    readers = walk.readers.get(out, [])
    x_readers = walk.readers.get(x, [])
    if function in ("sigmoid", "hardsigmoid") and len(readers) == 1 and readers[0] >= 0:
        mul = nodes[readers[0]]
        if (
            mul.op_type == "Mul"
            and set(mul.input) == {x, out}
            and sorted(x_readers) == sorted({index, readers[0]})
        ):
            row = walk.producer.get(x)
            if row is not None and walk.rows[row].activation == "none":
                walk.rows[row].activation = "silu" if function == "sigmoid" else "hardswish"
                walk.producer[mul.output[0]] = row
                walk.skip.add(readers[0])
                walk.tensors.shapes[mul.output[0]] = walk.tensors.shapes[x]
                return
    row = _only_reader(walk, x)
    if row is None and x in walk.alias:  # through a Reshape or Flatten only it reads
        row = _only_reader(walk, walk.alias[x])
    if row is not None and walk.rows[row].activation == "none":
        walk.rows[row].activation = function
        walk.producer[out] = row
        return
    # on a tensor that something else reads too (Xception's ReLU before a separable conv,
    # whose input also feeds the shortcut): a row of its own, its FLOPs the activation's
    shapes = [walk.tensors.shapes[n] for n in node.input if n in walk.tensors.shapes]
    if not shapes or out not in walk.tensors.shapes:
        walk.uncounted.append(
            Uncounted(node.name or f"#{index}", node.op_type, "the shape of its input is unknown")
        )
        return
    outcome = elementwise(node, shapes, walk.tensors.shapes[out], walk.tensors, function)
    _place(walk, nodes, index, outcome, module_path(node, index), _where(walk, node, index))
