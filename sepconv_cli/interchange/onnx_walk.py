"""The walk over an ONNX graph's nodes, in the graph's (topological) order: each node's
output shapes (:mod:`onnx_shape_rules`, :mod:`onnx_nodes`), checked against onnx's own
inference, and the row it makes or joins (:func:`visit`, :func:`place`).

* a BatchNormalization right after a Conv (its only reader) joins the conv's row as the
  YAML ``batch_norm`` does (so the separable form has one after each of its convs);
* an activation joins the row that produced its input (``x · sigmoid(x)`` is a SiLU,
  ``x · hardsigmoid(x)`` a hard-swish), as a YAML ``activation``; on a tensor something
  else reads too, it is a row of its own;
* a MatMul's bias Add and a written-out GELU join their row (:mod:`onnx_joins`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from math import prod
from typing import Any, TypeVar

from sepconv_cli.counting.network import Uncounted
from sepconv_cli.counting.ops import Passthrough, ops_cost
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_joins import (
    join_conv_bias,
    join_decomposed_gelu,
    join_matmul_bias,
    join_written_batch_norm,
)
from sepconv_cli.interchange.onnx_load import FOLD_LIMIT, Shape, constant_tensor
from sepconv_cli.interchange.onnx_nodes import channels_last, count_node
from sepconv_cli.interchange.onnx_outcomes import Activation, Hidden, NotCounted, Outcome, one
from sepconv_cli.interchange.onnx_pairs import join_pair, relower
from sepconv_cli.interchange.onnx_shapes import MalformedNode, NodeShapeError, fold
from sepconv_cli.interchange.onnx_tensor_nodes import elementwise, items_of, per_item
from sepconv_cli.interchange.onnx_walk_state import (
    FILE_ORDER,
    MAC_OPS,
    RELABELS,
    Walk,
    WalkRow,
    module_path,
    only_reader,
)


def visit(walk: Walk, nodes: Sequence[Any], index: int) -> None:
    node = nodes[index]
    tensors = walk.tensors
    name = module_path(node, index)
    where = where_of(walk, node, index)
    held = constant_tensor(node)
    if held is not None:
        dims = tuple(int(d) for d in held.dims)
        if any(d < 0 for d in dims):
            raise UsageError(f"{where}: its value has a negative dim ({_dims(dims)})")
        if prod(dims) > FOLD_LIMIT:  # a weight kept in a Constant node (paddle2onnx): its
            tensors.shapes[node.output[0]] = dims  # shape only, never its values
            free_row(walk, node, name, where)
            return
    values = _guarded(walk, node, where, lambda: fold(node, tensors))
    if values is not None:
        for output, value in zip(node.output, values, strict=False):
            tensors.values[output] = value
            tensors.shapes[output] = tuple(int(d) for d in value.shape)
        if node.op_type not in MAC_OPS:
            free_row(walk, node, name, where)
            return
        # work on constants alone (EdgeNeXt's positional encoding): a runtime may fold it,
        # but the model holds it, so it is a row (counted once), never dropped
        walk.constant_work.append(node.name or f"#{index}")
    if node.op_type == "Div" and join_decomposed_gelu(walk, nodes, index):
        return
    ins = [n for n in node.input if n]
    missing = [n for n in ins if n not in tensors.shapes]
    _refuse_negative_dims(tensors.shapes, ins, where, empty=node.op_type in MAC_OPS)
    outcome: Outcome
    outs: list[Shape]
    if node.domain not in ("", "ai.onnx"):
        outcome, outs = NotCounted(f"an operator of domain {node.domain!r}, not ONNX's own"), []
    elif node.op_type in ("If", "Loop", "Scan"):
        outcome, outs = NotCounted("control flow (a subgraph) is not counted"), []
    elif missing:
        outcome, outs = NotCounted(f"the shape of its input {missing[0]!r} is unknown"), []
    else:
        shapes = [tensors.shapes[n] for n in ins]
        try:
            outcome, outs = _guarded(
                walk, node, where, lambda: count_node(node, shapes, tensors, where, name)
            )
        except MalformedNode as exc:
            raise UsageError(f"{where}: {exc}") from None
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
    _refuse_negative_outputs(tensors.shapes, node.output, where)
    _place(walk, nodes, index, outcome, name, where)


T = TypeVar("T")

MALFORMED = (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError)
"""What a rule raises on a node whose attributes or inputs the file got wrong in a way no
check before it names (an index past an input's rank, a value of the wrong kind)."""


def _guarded(walk: Walk, node: Any, where: str, work: Callable[[], T]) -> T:
    """``work`` (a node's rule or its fold), with a broken node refused in one line naming
    it. Where onnx's own inference gave every output of the node a shape, onnx read the
    node as valid, so a failure is sepconv's bug and stays one (exit 3, "please report")."""
    try:
        return work()
    except MALFORMED as exc:
        if node.output and all(o in walk.inferred for o in node.output if o):
            raise
        raise UsageError(
            f"{where}: its inputs and attributes do not fit ({type(exc).__name__}: {exc})"
        ) from None


def _refuse_negative_dims(
    shapes: dict[str, Shape], names: Sequence[str], where: str, empty: bool = False
) -> None:
    """A tensor with a negative dim (a hostile or broken file: onnx's checker refuses it)
    would count negative MACs, and an empty one (``empty``: the operand of a node with
    MACs) a conv of no channels: one line naming the node, the input and its dims."""
    for name in names:
        dims = shapes.get(name, ())
        if any(d < 0 for d in dims):
            raise UsageError(f"{where}: input {name!r} has a negative dim ({_dims(dims)})")
        if empty and dims and 0 in dims:
            raise UsageError(f"{where}: input {name!r} is empty ({_dims(dims)})")


def _refuse_negative_outputs(shapes: dict[str, Shape], names: Sequence[str], where: str) -> None:
    """A computed output with a negative dim (attributes that do not fit the input: a
    ConvTranspose cropped past nothing) is refused, never counted."""
    for name in names:
        dims = shapes.get(name, ())
        if any(d < 0 for d in dims):
            raise UsageError(
                f"{where}: its output {name!r} would be {_dims(dims)}: its attributes do not "
                "fit its input"
            )


def where_of(walk: Walk, node: Any, index: int) -> str:
    return f"{walk.path}: node {node.name or index} ({node.op_type})"


def free_row(walk: Walk, node: Any, name: str, where: str) -> None:
    """With ``--all-nodes``, a row for a node that costs nothing (its forms count zero)."""
    if not walk.all_nodes:
        return
    first = next((n for n in node.input if n), "")
    in_shape = channels_last(walk.tensors.shapes.get(first, ()))
    out_shape = channels_last(walk.tensors.shapes.get(node.output[0], ())) if node.output else ()
    op = Passthrough(in_shape, out_shape)
    walk.rows.append(WalkRow(name, node.op_type.lower(), in_shape, one(op), where))


def _ceil_pool(node: Any) -> bool:
    return node.op_type in ("MaxPool", "AveragePool") and any(
        a.name == "ceil_mode" and a.i for a in node.attribute
    )


def _dims(shape: Shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _place(
    walk: Walk, nodes: Sequence[Any], index: int, outcome: Outcome, name: str, where: str
) -> None:
    node = nodes[index]
    out = node.output[0] if node.output else ""
    if isinstance(outcome, Hidden):
        data = node.input[0] if node.input else ""
        if node.op_type in RELABELS and data and len(walk.readers.get(data, [])) == 1:
            walk.alias[out] = walk.alias.get(data, data)
        if node.op_type == "Transpose" and data and len(walk.readers.get(data, [])) == 1:
            walk.moved[out] = data
        free_row(walk, node, name, where)
        return
    if isinstance(outcome, NotCounted):
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        walk.uncounted.append(Uncounted(node.name or f"#{index}", op, outcome.reason))
        walk.named.add(index)
        return
    if isinstance(outcome, Activation):
        _activation(walk, nodes, index, outcome.function)
        return
    if outcome.type == "batch_norm":
        row = only_reader(walk, node.input[0])
        target = walk.rows[row] if row is not None else None
        if (
            row is not None
            and target is not None
            and target.spec is not None
            and target.activation == "none"
            and target.spec.batch_norm == "none"
        ):
            target.spec = replace(target.spec, batch_norm="each")
            relower(target)
            walk.producer[out] = row
            walk.fused_bn += 1
            return
        walk.separate_bn += 1
    if outcome.type in ("add",) and join_matmul_bias(walk, node, out):
        return
    if outcome.type == "add" and join_conv_bias(walk, node, out):
        return
    if outcome.type == "mul" and join_written_batch_norm(walk, nodes, index):
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
        WalkRow(
            name,
            kind,
            shown,
            outcome.forms,
            where,
            outcome.spec,
            activation=outcome.activation,
            bias_free_matmul=outcome.bias_free_matmul,
            batch=None if items == walk.batch else items,
            source=first,
        )
    )
    walk.producer[out] = len(walk.rows) - 1
    if kind in ("pointwise", "dense"):
        join_pair(walk, out)


def _activation(walk: Walk, nodes: Sequence[Any], index: int, function: str) -> None:
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
    row = only_reader(walk, x)
    if row is None and x in walk.alias:  # through a Reshape or Flatten only it reads
        row = only_reader(walk, walk.alias[x])
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
    _place(walk, nodes, index, outcome, module_path(node, index), where_of(walk, node, index))
