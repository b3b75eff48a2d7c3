"""An ONNX graph → a :class:`~sepconv_cli.counting.network.Model` of rows, as a YAML spec
builds one, so every report, format, gate and ``compare`` reads it unchanged.

The pipeline: the graph without its weights (:mod:`onnx_load`), its inputs pinned
(:mod:`onnx_inputs`), an ``If`` its pinned values decide read as the branch taken
(:mod:`onnx_control`), onnx's own shape inference for the cross-check, the walk over every
node (:mod:`onnx_walk`: shapes, rows, the nodes that join a row), the final check that no
MAC was lost (:mod:`onnx_audit`), and consecutive identical blocks folded into one
(:mod:`onnx_repeats`). Rows are named by the module path the exporter recorded
(``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sepconv_cli.counting.network import Model, Row
from sepconv_cli.counting.ops import ops_cost
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_audit import check_counts, independent_macs
from sepconv_cli.interchange.onnx_inputs import graph_inputs, pin_inputs
from sepconv_cli.interchange.onnx_liveness import file_lives, visit_all
from sepconv_cli.interchange.onnx_load import Shape, onnx_inferred_shapes
from sepconv_cli.interchange.onnx_nodes import channels_last
from sepconv_cli.interchange.onnx_quantized import dequantize
from sepconv_cli.interchange.onnx_repeats import fold_repeats
from sepconv_cli.interchange.onnx_shapes import Tensors, mark_weights
from sepconv_cli.interchange.onnx_validate import load_checked, validate_model
from sepconv_cli.interchange.onnx_walk_state import Walk

DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 3: "int8", 2: "int8"}
"""ONNX element types → sepconv dtypes (bytes per value); others count as float32."""


def read_onnx(
    path: Path,
    input_shapes: dict[str, Shape] | None = None,
    batch: int | None = None,
    all_nodes: bool = False,
    input_values: dict[str, Any] | None = None,
    proto: Any = None,
) -> tuple[Model, list[str]]:
    """The model in ``path`` and the notes for stderr (a defaulted batch, a skipped check).
    ``all_nodes`` gives the free data-movement and shape nodes rows of their own;
    ``input_values`` (``--input-value``) pins inputs' values, and an ``If`` they decide is
    read as the branch it takes (:mod:`~sepconv_cli.interchange.onnx_control`). ``proto``:
    a graph another reader made of ``path`` (a TFLite file's, :mod:`tflite_model`), read
    instead of the file and checked as a file's would be."""
    from sepconv_cli.interchange.onnx_control import fold_control_flow

    if proto is None:
        proto = load_checked(path)
    else:
        validate_model(proto, path)
    quantized = dequantize(proto, path)
    notes: list[str] = []
    shapes = pin_inputs(proto, path, input_shapes or {}, notes, batch, values=input_values)
    proto = fold_control_flow(proto, path, shapes, input_values or {}, notes)
    tensors = Tensors(base_dir=path.parent, opset=_opset(proto), path=path)
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
    # the model's input, as reports show it: its first graph input (a graph of constants
    # alone has none; a scalar input has no batch)
    first = next(iter(graph_inputs(proto)), None)
    input_shape = shapes[first.name] if first is not None else ()
    walk = Walk(path, tensors, inferred, readers, all_nodes=all_nodes)
    walk.batch = input_shape[0] if input_shape else 1
    nodes = list(proto.graph.node)
    mark_weights(nodes, tensors)
    walk.constants = {n.output[0]: n for n in nodes if n.op_type == "Constant" and n.output}
    owners = visit_all(walk, nodes)  # every node, and the row each made or joined
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
        raise UsageError(_nothing_counted(path, walk, nodes))
    lives = file_lives(walk, nodes, owners, proto)  # peak memory (counting/liveness.py)
    rows = [
        Row(
            k,
            r.name,
            r.type,
            r.input_shape,
            r.forms,
            1,
            r.where,
            r.activation,
            inner_activation=r.inner_activation,
            batch=r.batch,
            live=lives[k],
        )
        for k, r in enumerate(walk.rows)
    ]
    opset = _opset(proto)
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p)
    model = Model(
        name=path.stem,  # exporters' graph names say little ("main_graph", "torch_jit")
        source=f"ONNX file{f' from {producer}' if producer else ''}, opset {opset}"
        + (f", graph {proto.graph.name}" if proto.graph.name else "")
        + (f", {quantized.describe()}" if quantized else ""),
        input_shape=(_shown_input(nodes, walk.readers, first.name, input_shape) if first else ()),
        batch=batch or (input_shape[0] if input_shape else 1),
        weight_dtype="int8" if quantized and not quantized.static else "",
        dtype="int8"
        if quantized and quantized.static
        else (DTYPES.get(first.type.tensor_type.elem_type, "float32") if first else "float32"),
        rows=tuple(fold_repeats(rows)),
        file=str(path),
        graph_format="onnx",
        uncounted=tuple(walk.uncounted),
        graph_notes=tuple(graph_notes),
    )
    return model, notes


def _nothing_counted(path: Path, walk: Walk, nodes: Sequence[Any]) -> str:
    """Why a graph gave no row: the first node not counted and its reason, or that every
    node only moves data (``--all-nodes`` would show them as free rows)."""
    if walk.uncounted:
        first = walk.uncounted[0]
        more = len(walk.uncounted) - 1
        return (
            f"{path}: no node of this graph is one sepconv counts: node {first.node} "
            f"({first.op_type}): {first.reason}"
            + (f" (and {more} more not counted)" if more else "")
        )
    kinds: dict[str, int] = {}
    for node in nodes:
        kinds[node.op_type] = kinds.get(node.op_type, 0) + 1
    listed = ", ".join(f"{op} ×{n}" if n > 1 else op for op, n in sorted(kinds.items()))
    return (
        f"{path}: nothing to count: its {len(nodes)} node(s) only move data or compute "
        f"shapes ({listed}); --all-nodes lists them"
    )


def _opset(proto: Any) -> int:
    """The model's default-domain opset (0 when it names none)."""
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _check(walk: Walk, proto: Any, nodes: Sequence[Any], inputs: dict[str, Shape]) -> None:
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


PREPROCESSING = frozenset({"Add", "Sub", "Mul", "Div", "Cast", "Identity", "Clip"})
"""What a TensorFlow export may do to its NHWC input before transposing it (Keras'
Rescaling and Normalization layers)."""


def _shown_input(
    nodes: Sequence[Any], readers: dict[str, list[int]], name: str, shape: Shape
) -> Shape:
    """The model's input as the report shows it, channels-last with the batch apart: an
    NCHW input turned (``(1, 3, 224, 224)`` → ``224×224×3``), an NHWC one as it is: a
    TensorFlow export, whose every path from the input reaches a Transpose to NCHW through
    elementwise preprocessing at most. ``readers``: each tensor's reading nodes, by
    position in ``nodes`` (the walk's; a graph output, -1, is no node)."""
    if len(shape) < 3:
        return channels_last(shape)
    to_nchw = [0, len(shape) - 1, *range(1, len(shape) - 1)]
    frontier, seen = [name], 0
    while frontier and seen < 64:
        tensor = frontier.pop()
        found = [nodes[i] for i in readers.get(tensor, []) if i >= 0]
        if not found:
            return channels_last(shape)
        for node in found:
            seen += 1
            if node.op_type == "Transpose":
                perm = [list(a.ints) for a in node.attribute if a.name == "perm"]
                if perm != [to_nchw]:
                    return channels_last(shape)
            elif node.op_type in PREPROCESSING:
                frontier.extend(o for o in node.output if o)
            else:
                return channels_last(shape)
    return tuple(shape[1:]) if not frontier else channels_last(shape)


def _bn_note(walk: Walk) -> str:
    written = (
        f" {walk.written_bn} batch-norm(s) written out as Mul then Add after a conv, joined "
        "to its row as one."
        if walk.written_bn
        else ""
    )
    if walk.fused_bn or walk.separate_bn:
        return (
            f"Batch-norm: {walk.fused_bn + walk.separate_bn} BatchNormalization node(s) in the "
            f"graph, counted as in YAML ({walk.fused_bn} after a conv, joined to its row; "
            f"{walk.separate_bn} on their own).{written}"
        )
    if walk.written_bn:
        return f"Batch-norm: no BatchNormalization node;{written}"
    if walk.convs:
        return (
            "Batch-norm: no BatchNormalization node; if the model had any, the exporter "
            "folded it into the convolutions' weights and biases (counted as their bias)."
        )
    return "Batch-norm: none in the graph."
