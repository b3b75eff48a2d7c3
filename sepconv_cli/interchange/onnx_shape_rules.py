"""sepconv's own output shape rule for every ONNX node type it knows (data movement,
elementwise functions, reductions, products, recurrent layers): :func:`rule_for`.

Shapes are ONNX's own (batch first, NCHW). A rule may need a small constant input's value
(a Reshape's target, a Slice's starts): :meth:`Tensors.need` reads it, or raises
:class:`NodeShapeError` when it is computed. The convolutions, pools and matrix products
get their shapes from the counting ops (:mod:`onnx_nodes`).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_shapes import (
    MalformedNode,
    Tensors,
    attributes,
    broadcast,
    text_attribute,
)


def _axis(axis: int, rank: int) -> int:
    """``axis`` of a tensor of ``rank`` dims, counted from 0 (ONNX lets it count from the
    end); one out of range is a broken node."""
    if not -rank <= axis < max(rank, 1):
        raise MalformedNode(f"axis {axis} is out of range for a tensor of {rank} dim(s)")
    return axis + rank if axis < 0 else axis


def _int_list(node: Any, tensors: Tensors, position: int, what: str) -> list[int]:
    """Input ``position``'s value as the list of integers ONNX makes it (a shape, axes,
    pads): a scalar or a 1-D tensor of an integer type; anything else is a broken node."""
    value = tensors.need(node, position, what)
    if value.ndim > 1 or value.dtype.kind not in "iu":
        raise MalformedNode(
            f"its {what} is a {value.dtype} tensor of shape {tuple(value.shape)}, not a list "
            "of integers"
        )
    return [int(x) for x in value.reshape(-1)]


def _axes(node: Any, tensors: Tensors, position: int) -> list[int] | None:
    a = attributes(node)
    if "axes" in a:
        return [int(x) for x in a["axes"]]
    if position < len(node.input) and node.input[position]:
        return _int_list(node, tensors, position, "axes")
    return None


def _reshape(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    target = _int_list(node, tensors, 1, "target shape")
    source = shapes[0]
    allow_zero = attributes(node).get("allowzero", 0)
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise MalformedNode(f"target shape {tuple(target)}: at most one -1, no other negative")
    if not allow_zero and any(d == 0 and i >= len(source) for i, d in enumerate(target)):
        raise MalformedNode(f"target shape {tuple(target)} copies a dim {source} lacks")
    dims = [source[i] if d == 0 and not allow_zero else d for i, d in enumerate(target)]
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = prod(source) // known if known else 0
    if prod(dims) != prod(source):
        raise MalformedNode(f"cannot reshape {source} to {tuple(target)}")
    return [tuple(dims)]


def _flatten(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    axis = int(attributes(node).get("axis", 1))
    if not -len(s) <= axis <= len(s):  # axis = rank is allowed: everything in one row
        raise MalformedNode(f"axis {axis} is out of range for a tensor of {len(s)} dim(s)")
    axis = axis + len(s) if axis < 0 else axis
    return [(prod(s[:axis]), prod(s[axis:]))]


def _transpose(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    perm = attributes(node).get("perm", list(range(len(s)))[::-1])
    if sorted(perm) != list(range(len(s))):
        raise MalformedNode(f"perm {list(perm)} does not permute the input's {len(s)} dims")
    return [tuple(s[p] for p in perm)]


def _squeeze(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    axes = _axes(node, tensors, 1)
    drop = (
        {_axis(a, len(s)) for a in axes}
        if axes is not None
        else {i for i, d in enumerate(s) if d == 1}
    )
    return [tuple(d for i, d in enumerate(s) if i not in drop)]


def _unsqueeze(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = list(shapes[0])
    axes = _axes(node, tensors, 1) or []
    rank = len(s) + len(axes)
    for a in sorted(_axis(a, rank) for a in axes):
        s.insert(a, 1)
    return [tuple(s)]


def _concat(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    first = shapes[0]
    axis = _axis(attributes(node)["axis"], len(first))
    for s in shapes:
        if len(s) != len(first) or any(
            d != e for i, (d, e) in enumerate(zip(s, first, strict=True)) if i != axis
        ):
            raise MalformedNode(f"inputs {first} and {s} differ off the concat axis {axis}")
    return [(*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])]


def _split(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    a = attributes(node)
    axis = _axis(a.get("axis", 0), len(s))
    if "split" in a:
        sizes = [int(x) for x in a["split"]]
    elif len(node.input) > 1 and node.input[1]:
        sizes = _int_list(node, tensors, 1, "split sizes")
    else:
        parts = len(node.output)
        chunk = -(-s[axis] // parts)
        sizes = [min(chunk, s[axis] - i * chunk) for i in range(parts)]
    return [(*s[:axis], size, *s[axis + 1 :]) for size in sizes]


def _slice(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = list(shapes[0])
    a = attributes(node)
    if "starts" in a:  # opset < 10: attributes
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = _int_list(node, tensors, 1, "starts")
        ends = _int_list(node, tensors, 2, "ends")
        axes = _axes(node, tensors, 3) or list(range(len(starts)))
        has_steps = len(node.input) > 4 and node.input[4]
        steps = _int_list(node, tensors, 4, "steps") if has_steps else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, len(s))
        s[axis] = len(range(*slice(start, end, step).indices(s[axis])))
    return [tuple(s)]


def _pad(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = list(shapes[0])
    a = attributes(node)
    pads = a["pads"] if "pads" in a else _int_list(node, tensors, 1, "pads")
    axes = _axes(node, tensors, 3) or list(range(len(s)))
    half = len(pads) // 2
    for i, axis in enumerate(axes):
        axis = _axis(axis, len(s))
        s[axis] += int(pads[i]) + int(pads[i + half])
    return [tuple(s)]


def _resize(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    if len(node.input) > 3 and node.input[3]:
        sizes = _int_list(node, tensors, 3, "sizes")
        return [tuple(sizes)]
    scales = tensors.need(node, 2 if node.op_type == "Resize" else 1, "scales").reshape(-1)
    if len(scales) != len(s) or not all(0 < float(f) < 2**31 for f in scales):
        raise MalformedNode(
            f"its scales {[float(f) for f in scales[:8]]} are not {len(s)} positive sizes"
        )
    return [tuple(int(d * float(f)) for d, f in zip(s, scales, strict=True))]


def _reduce(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    a = attributes(node)
    axes = _axes(node, tensors, 1)
    keep = a.get("keepdims", 1)
    picked = {_axis(x, len(s)) for x in axes} if axes else set(range(len(s)))
    if keep:
        return [tuple(1 if i in picked else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in picked)]


def _gather(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    data, indices = shapes[0], shapes[1]
    axis = _axis(attributes(node).get("axis", 0), len(data))
    return [(*data[:axis], *indices, *data[axis + 1 :])]


def _same(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    return [shapes[0]]


def _elementwise(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    return [broadcast(*shapes)]


def _expand(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    target = tuple(_int_list(node, tensors, 1, "target shape"))
    return [broadcast(shapes[0], target)]


def _arg_reduce(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    a = attributes(node)
    axis = _axis(int(a.get("axis", 0)), len(s))
    if a.get("keepdims", 1):
        return [tuple(1 if i == axis else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i != axis)]


def _tile(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    repeats = _int_list(node, tensors, 1, "repeats")
    return [tuple(d * r for d, r in zip(shapes[0], repeats, strict=True))]


def _depth_to_space(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    n, c, *spatial = shapes[0]
    b = int(attributes(node)["blocksize"])
    if node.op_type == "DepthToSpace":
        return [(n, c // (b * b), *(d * b for d in spatial))]
    return [(n, c * b * b, *(d // b for d in spatial))]


def einsum_terms(node: Any, shapes: list[Shape]) -> tuple[list[str], str, dict[str, int]]:
    """An ``Einsum``'s operand labels, output labels and every label's size (``...``
    spelled as one upper-case label per broadcast dim, so the arithmetic is on letters)."""
    equation = text_attribute(node, "equation", "").replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise MalformedNode(f"equation {equation!r} has {len(terms)} operands, not {len(shapes)}")
    ellipsis_rank = max(
        (len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes, strict=True)),
        default=0,
    )
    broadcast_labels = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:ellipsis_rank]
    sizes: dict[str, int] = {}
    spelled = []
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            rank = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", broadcast_labels[ellipsis_rank - rank :])
        if len(term) != len(shape):
            raise MalformedNode(f"operand {term!r} of {equation!r} does not fit shape {shape}")
        for label, size in zip(term, shape, strict=True):
            if size != 1 or label not in sizes:
                sizes[label] = size
        spelled.append(term)
    if arrow:
        out = rhs.replace("...", broadcast_labels)
    else:  # implicit output: the broadcast dims, then the labels used once, sorted
        counts = "".join(spelled)
        out = broadcast_labels + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c.islower())
        )
    return spelled, out, sizes


def _einsum(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    _, out, sizes = einsum_terms(node, shapes)
    return [tuple(sizes[label] for label in out)]


def recurrent_sizes(node: Any, shapes: list[Shape]) -> tuple[int, int, int, int, int]:
    """An LSTM/GRU/RNN's (steps, batch, input size, hidden size, directions), from its
    input ``X`` (``layout`` 0: steps first; 1: batch first) and weight ``W``."""
    a = attributes(node)
    x, w = shapes[0], shapes[1]
    if len(x) != 3 or len(w) != 3:
        raise MalformedNode(f"input {x} and weight {w} are not a recurrent layer's")
    steps, batch = (x[1], x[0]) if a.get("layout", 0) else (x[0], x[1])
    gates = {"LSTM": 4, "GRU": 3}.get(node.op_type, 1)
    hidden = int(a.get("hidden_size", 0)) or w[1] // gates
    directions = 2 if text_attribute(node, "direction", "forward") == "bidirectional" else 1
    if w != (directions, gates * hidden, x[2]):
        raise MalformedNode(
            f"its weight W is {w}; input {x} with hidden size {hidden} and {directions} "
            f"direction(s) needs {(directions, gates * hidden, x[2])}"
        )
    if len(shapes) > 2 and shapes[2] != (directions, gates * hidden, hidden):
        raise MalformedNode(
            f"its recurrence weight R is {shapes[2]}; it needs "
            f"{(directions, gates * hidden, hidden)}"
        )
    return steps, batch, x[2], hidden, w[0]


def _recurrent(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    steps, batch, _, hidden, directions = recurrent_sizes(node, shapes)
    if attributes(node).get("layout", 0):
        y, state = (batch, steps, directions, hidden), (batch, directions, hidden)
    else:
        y, state = (steps, directions, batch, hidden), (directions, batch, hidden)
    return [y, state, state][: len(node.output)]


ShapeRule = Callable[[Any, list[Shape], Tensors], list[Shape]]

SHAPE_ONLY: dict[str, ShapeRule] = {
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    "Identity": _same,
    "Dropout": _same,
    "Cast": _same,
    "Gather": _gather,
    "Expand": _expand,
    "Tile": _tile,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _depth_to_space,
}
"""Nodes that only move or relabel data: no arithmetic, so no MACs and no FLOPs (a copy at
most). They are hidden from the table unless ``--all-nodes``."""

OTHER_RULES: dict[str, ShapeRule] = {
    "Concat": _concat,
    "Resize": _resize,
    "Upsample": _resize,
    "ReduceMean": _reduce,
    "Add": _elementwise,
    "Sub": _elementwise,
    "Mul": _elementwise,
    "Div": _elementwise,
    "Einsum": _einsum,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    "ArgMax": _arg_reduce,
    "ArgMin": _arg_reduce,
    **{op: _elementwise for op in ("Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where")},
    **{op: _elementwise for op in ("Mod", "Equal", "Less", "Greater", "LessOrEqual")},
    **{op: _elementwise for op in ("GreaterOrEqual", "And", "Or", "Xor", "BitShift")},
    **{op: _reduce for op in ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")},
    **{op: _reduce for op in ("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum")},
    "ReduceLogSumExp": _reduce,
}
"""Shape rules for nodes that are counted (or may be): :mod:`onnx_nodes` decides their cost."""

UNARY = {
    "Relu",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "Sigmoid",
    "Gelu",
    "Tanh",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Softplus",
    "Erf",
    "Softmax",
    "LogSoftmax",
    "BatchNormalization",
    "LayerNormalization",
    "InstanceNormalization",
    "Sqrt",
    "Exp",
    "Neg",
    "Abs",
    "Reciprocal",
    "Log",
    "Sin",
    "Cos",
    "Tan",
    "Atan",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Not",
    "IsNaN",
    "IsInf",
    "Mish",
    "Softsign",
    "HardShrink",
    "Shrink",
    "ThresholdedRelu",
    "Celu",
    "Hardmax",
    "CumSum",
    "LpNormalization",
    "MeanVarianceNormalization",
    "LRN",
    "GroupNormalization",
    "Trilu",
}
"""Nodes whose (first) output has their first input's shape."""


def rule_for(op_type: str) -> ShapeRule | None:
    if op_type in SHAPE_ONLY:
        return SHAPE_ONLY[op_type]
    if op_type in OTHER_RULES:
        return OTHER_RULES[op_type]
    if op_type in UNARY:
        return _same
    return None
