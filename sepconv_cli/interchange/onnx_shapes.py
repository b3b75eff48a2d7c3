"""sepconv's own output shapes for ONNX's data-movement and elementwise nodes, and the values
of the shape-only subgraphs (``Shape → Gather → Concat → Reshape``) that decide them.

Shapes here are ONNX's own (batch first, NCHW); the counting rows turn them channels-last.
A node whose inputs are all known values (constants, a ``Shape``'s output) is evaluated with
``onnx.reference`` and costs nothing: an exporter or runtime folds it. The convolutions,
pools and matrix products get their shapes from the counting ops (:mod:`onnx_nodes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

from sepconv_cli.interchange.onnx_load import Shape, tensor_array
from sepconv_cli.interchange.optional import require, require_onnx

FOLD_LIMIT = 4096
"""Largest constant (in elements) whose value is read to fold a node: shape tensors and
small constants, never weights."""


class NodeShapeError(Exception):
    """A node whose output shape cannot be computed (message says why)."""


@dataclass
class Tensors:
    """What is known about every tensor of a graph so far: shapes, and values of small
    constants (read on demand from the initializers)."""

    base_dir: Path
    shapes: dict[str, Shape] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    initializers: dict[str, Any] = field(default_factory=dict)  # name -> TensorProto

    def value(self, name: str) -> Any | None:
        """The value of ``name`` if it is a known small constant, else None."""
        if name in self.values:
            return self.values[name]
        tensor = self.initializers.get(name)
        if tensor is None or prod(tensor.dims) > FOLD_LIMIT:
            return None
        self.values[name] = tensor_array(tensor, self.base_dir)
        return self.values[name]

    def need(self, node: Any, position: int, what: str) -> Any:
        """The value of input ``position`` of ``node``; without it the shape is unknown."""
        name = node.input[position] if position < len(node.input) else ""
        value = self.value(name) if name else None
        if value is None:
            raise NodeShapeError(f"its {what} ({name or 'absent'}) is not a constant")
        return value


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes by name (memoized per node: read several times per node)."""
    key = id(node)
    hit = _ATTRIBUTES.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    value = require_onnx().helper.get_attribute_value
    found = {a.name: value(a) for a in node.attribute}
    _ATTRIBUTES[key] = (node, found)
    return found


_ATTRIBUTES: dict[int, tuple[Any, dict[str, Any]]] = {}


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def fold(node: Any, tensors: Tensors) -> list[Any] | None:
    """The output values of ``node`` when every input is a known small constant (or the node
    is a ``Constant``), evaluated by ``onnx.reference``; else None."""
    if node.op_type == "Shape" and node.input[0] in tensors.shapes:
        import numpy as np

        shape = tensors.shapes[node.input[0]]
        a = attributes(node)
        start, end = a.get("start", 0), a.get("end", len(shape))
        return [np.array(shape[start:end], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    if node.op_type != "Constant" and not inputs:
        return None
    # a computed input first: most nodes have one, and then no constant is read at all
    if any(n not in tensors.values and n not in tensors.initializers for n in inputs):
        return None
    known = [tensors.value(name) for name in inputs]
    if any(v is None for v in known):
        return None
    if node.op_type in ("RandomNormal", "RandomUniform", "Multinomial"):
        return None
    reference = require("onnx.reference")
    try:
        outputs = reference.ReferenceEvaluator(node).run(
            None, dict(zip(inputs, known, strict=True))
        )
    except Exception:  # an op the reference runtime lacks: its shape is found another way
        return None
    return list(outputs)


def broadcast(*shapes: Shape) -> Shape:
    """NumPy's (and ONNX's multidirectional) broadcasting of ``shapes``."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise NodeShapeError(f"inputs {' and '.join(map(str, shapes))} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """``numpy.matmul``'s output shape (1-D operands promoted and dropped again)."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise NodeShapeError(f"inner dims differ: {a} × {b}")
    out = (*broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _axes(node: Any, tensors: Tensors, position: int) -> list[int] | None:
    a = attributes(node)
    if "axes" in a:
        return [int(x) for x in a["axes"]]
    if position < len(node.input) and node.input[position]:
        return [int(x) for x in tensors.need(node, position, "axes")]
    return None


def _reshape(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    target = [int(x) for x in tensors.need(node, 1, "target shape")]
    source = shapes[0]
    allow_zero = attributes(node).get("allowzero", 0)
    dims = [source[i] if d == 0 and not allow_zero else d for i, d in enumerate(target)]
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = prod(source) // known if known else 0
    if prod(dims) != prod(source):
        raise NodeShapeError(f"cannot reshape {source} to {tuple(target)}")
    return [tuple(dims)]


def _flatten(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    axis = _axis(attributes(node).get("axis", 1), len(s))
    return [(prod(s[:axis]), prod(s[axis:]))]


def _transpose(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    perm = attributes(node).get("perm", list(range(len(s)))[::-1])
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
    return [(*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])]


def _split(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    a = attributes(node)
    axis = _axis(a.get("axis", 0), len(s))
    if "split" in a:
        sizes = [int(x) for x in a["split"]]
    elif len(node.input) > 1 and node.input[1]:
        sizes = [int(x) for x in tensors.need(node, 1, "split sizes")]
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
        starts = [int(x) for x in tensors.need(node, 1, "starts")]
        ends = [int(x) for x in tensors.need(node, 2, "ends")]
        axes = _axes(node, tensors, 3) or list(range(len(starts)))
        has_steps = len(node.input) > 4 and node.input[4]
        steps = [int(x) for x in tensors.need(node, 4, "steps")] if has_steps else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, len(s))
        s[axis] = len(range(*slice(start, end, step).indices(s[axis])))
    return [tuple(s)]


def _pad(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = list(shapes[0])
    a = attributes(node)
    pads = a["pads"] if "pads" in a else [int(x) for x in tensors.need(node, 1, "pads")]
    axes = _axes(node, tensors, 3) or list(range(len(s)))
    half = len(pads) // 2
    for i, axis in enumerate(axes):
        axis = _axis(axis, len(s))
        s[axis] += int(pads[i]) + int(pads[i + half])
    return [tuple(s)]


def _resize(node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    s = shapes[0]
    if len(node.input) > 3 and node.input[3]:
        sizes = [int(x) for x in tensors.need(node, 3, "sizes")]
        return [tuple(sizes)]
    scales = tensors.need(node, 2 if node.op_type == "Resize" else 1, "scales")
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
    target = tuple(int(x) for x in tensors.need(node, 1, "target shape"))
    return [broadcast(shapes[0], target)]


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


def text_attribute(node: Any, name: str, default: str) -> str:
    return str(_text(attributes(node).get(name, default)))
