"""The output shape rule of every ONNX node type whose shapes follow from its inputs' shapes
and a few small values (a Reshape's target, a Slice's starts): one rule per type, over
:class:`Operand` inputs (a shape, and a value where it is held).

Two readers share them. The fold planner (:mod:`onnx_fold_size`) gives them what folding
holds, to know a node's output shapes before it is evaluated (:func:`rule_for`); the walk
(:mod:`onnx_shape_rules`) gives them shapes alone and reads a value where a rule asks for it.

Each rule follows the ONNX operator's definition (attributes before the opset that made them
inputs) and computes in Python's exact ints: a dim of 2**40 times another is 2**80, never a
wrapped int64. A rule raises :class:`MalformedNode` where the inputs make no valid output
(its message names the fault), :class:`NodeShapeError` for a form it does not read, and
:class:`NeedsValue` where an output's shape depends on a value it was not given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.interchange.onnx_attrs import MalformedNode, axis_of, broadcast, text
from sepconv_cli.interchange.onnx_load import Shape


@dataclass(frozen=True)
class Operand:
    """One input of a node: its shape, and its value where it is held (None: a value not
    read, or a constant too large to hold, known by its shape only)."""

    shape: Shape
    value: Any | None = None


Ops = list[Operand | None]  # by input position; None for an absent optional input


class NeedsValue(Exception):
    """A rule needs the value of input ``position`` (its ``what``), which it was not given;
    ``integers``: ONNX makes it a list of integers (a shape, axes, pads)."""

    def __init__(self, position: int, what: str, integers: bool = False) -> None:
        super().__init__(what)
        self.position, self.what, self.integers = position, what, integers


# -- reading inputs and attributes ---------------------------------------------------------


def operand(ops: Ops, position: int) -> Operand:
    """Input ``position``; a broken node when it is absent."""
    op = ops[position] if position < len(ops) else None
    if op is None:
        raise MalformedNode(f"its input {position} is absent")
    return op


def present(ops: Ops, position: int) -> bool:
    return position < len(ops) and ops[position] is not None


def _numbers(ops: Ops, position: int, what: str, integers: bool = False) -> list[Any]:
    """Input ``position``'s values as Python numbers (ints stay exact)."""
    op = operand(ops, position)
    if op.value is None:
        raise NeedsValue(position, what, integers)
    return list(np.asarray(op.value).reshape(-1).tolist())


def _ints(ops: Ops, position: int, what: str) -> list[int]:
    return [int(v) for v in _numbers(ops, position, what, integers=True)]


def _axes_of(ops: Ops, a: dict[str, Any], position: int) -> list[int] | None:
    """The ``axes`` attribute, else input ``position``'s values; None when neither is
    given."""
    if "axes" in a:
        return [int(x) for x in a["axes"]]
    return _ints(ops, position, "axes") if present(ops, position) else None


# -- shape rules ---------------------------------------------------------------------------

Rule = Callable[[Any, Ops, dict[str, Any]], list[Shape]]


def same(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    """The first input's shape (a Dropout's mask too; a norm's extra outputs are not
    given)."""
    s = operand(ops, 0).shape
    return [s, s] if node.op_type == "Dropout" else [s]


def elementwise(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [broadcast(*(op.shape for op in ops if op is not None))]


def _constant(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    for name in ("value", "sparse_value"):
        if name in a:
            return [tuple(int(d) for d in a[name].dims)]
    for name in ("value_floats", "value_ints", "value_strings"):
        if name in a:
            return [(len(a[name]),)]
    return [()]


def _constant_of_shape(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [tuple(_ints(ops, 0, "shape"))]


def _range(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    start, limit, delta = (_numbers(ops, k, "bounds")[0] for k in range(3))
    if all(isinstance(v, int) for v in (start, limit, delta)):
        if delta == 0:
            raise MalformedNode("a Range of step 0")
        return [(max(0, -((start - limit) // delta)),)]
    span = (float(limit) - float(start)) / float(delta)
    return [(max(0, math.ceil(span)),)]


def _shape(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    rank = len(operand(ops, 0).shape)
    return [(len(range(rank)[a.get("start", 0) : a.get("end", rank)]),)]


def _reshape(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    source = operand(ops, 0).shape
    target = _ints(ops, 1, "target shape")
    keep = not a.get("allowzero", 0)  # a 0 copies the source's dim
    if any(d < -1 for d in target) or target.count(-1) > 1:
        raise MalformedNode(f"target shape {tuple(target)}: at most one -1, no other negative")
    if keep and any(d == 0 and i >= len(source) for i, d in enumerate(target)):
        raise MalformedNode(f"target shape {tuple(target)} copies a dim {source} lacks")
    dims = [source[i] if d == 0 and keep else d for i, d in enumerate(target)]
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        if not known or prod(source) % known:
            raise MalformedNode(f"cannot reshape {source} to {tuple(target)}: no size fills -1")
        dims[dims.index(-1)] = prod(source) // known
    if prod(dims) != prod(source):
        raise MalformedNode(f"cannot reshape {source} to {tuple(target)}")
    return [tuple(dims)]


def _flatten(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = int(a.get("axis", 1))
    if not -len(s) <= axis <= len(s):  # axis = rank is allowed: everything in one row
        raise MalformedNode(f"axis {axis} is out of range for a tensor of {len(s)} dim(s)")
    axis = axis + len(s) if axis < 0 else axis
    return [(prod(s[:axis]), prod(s[axis:]))]


def _squeeze(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axes = _axes_of(ops, a, 1)
    if axes is None:  # every dim of 1 (axes given but empty: none, as onnx infers)
        return [tuple(d for d in s if d != 1)]
    drop = {axis_of(x, len(s)) for x in axes}
    wide = sorted(i for i in drop if s[i] != 1)
    if wide:
        raise MalformedNode(f"it squeezes axis {wide[0]} of {s}, of size {s[wide[0]]}, not 1")
    return [tuple(d for i, d in enumerate(s) if i not in drop)]


def _unsqueeze(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    axes = _axes_of(ops, a, 1) or []
    rank = len(s) + len(axes)
    placed = sorted({axis_of(x, rank) for x in axes})
    if len(placed) != len(axes):
        raise MalformedNode(f"its axes {axes} name an axis twice")
    for x in placed:
        s.insert(x, 1)
    return [tuple(s)]


def _transpose(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    perm = [int(p) for p in a.get("perm", range(len(s) - 1, -1, -1))]
    if sorted(perm) != list(range(len(s))):
        raise MalformedNode(f"perm {perm} does not permute the input's {len(s)} dims")
    return [tuple(s[p] for p in perm)]


def _concat(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    shapes = [op.shape for op in ops if op is not None]
    first = shapes[0]
    axis = axis_of(int(a["axis"]), len(first))
    for s in shapes:
        if len(s) != len(first) or any(
            d != e for i, (d, e) in enumerate(zip(s, first, strict=True)) if i != axis
        ):
            raise MalformedNode(f"inputs {first} and {s} differ off the concat axis {axis}")
    return [(*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])]


def _gather(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    data, indices = operand(ops, 0).shape, operand(ops, 1).shape
    axis = axis_of(int(a.get("axis", 0)), len(data))
    return [(*data[:axis], *indices, *data[axis + 1 :])]


def _gather_nd(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    data, indices = operand(ops, 0).shape, operand(ops, 1).shape
    batch = int(a.get("batch_dims", 0))
    if not indices or indices[-1] > len(data) - batch:
        raise MalformedNode(f"indices {indices} reach deeper than data {data}")
    return [(*indices[:-1], *data[batch + indices[-1] :])]


def _slice(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    if "starts" in a:  # opset < 10: attributes
        starts, ends = [int(x) for x in a["starts"]], [int(x) for x in a["ends"]]
        axes = [int(x) for x in a.get("axes", range(len(starts)))]
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(ops, 1, "starts"), _ints(ops, 2, "ends")
        axes = _ints(ops, 3, "axes") if present(ops, 3) else list(range(len(starts)))
        steps = _ints(ops, 4, "steps") if present(ops, 4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        counts = f"{len(starts)}, {len(ends)}, {len(axes)} and {len(steps)}"
        raise MalformedNode(f"its starts, ends, axes and steps hold {counts} values")
    if 0 in steps:
        raise MalformedNode(f"a Slice step is 0 (steps {steps})")
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis_of(axis, len(s))
        s[axis] = len(range(*slice(start, end, step).indices(s[axis])))
    return [tuple(s)]


def _split(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = axis_of(int(a.get("axis", 0)), len(s))
    if "split" in a:
        sizes = [int(x) for x in a["split"]]
    elif present(ops, 1):
        sizes = _ints(ops, 1, "split sizes")
    else:  # equal parts, the last one smaller where they do not divide
        parts = int(a.get("num_outputs", len(node.output)))
        chunk = -(-s[axis] // parts)
        sizes = [max(0, min(chunk, s[axis] - i * chunk)) for i in range(parts)]
    if sum(sizes) != s[axis] or any(x < 0 for x in sizes):
        raise MalformedNode(f"split sizes {sizes} do not add up to axis {axis} of {s}")
    return [(*s[:axis], size, *s[axis + 1 :]) for size in sizes]


def _tile(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s, repeats = operand(ops, 0).shape, _ints(ops, 1, "repeats")
    if len(repeats) != len(s):
        raise MalformedNode(f"repeats {repeats} are not one per dim of {s}")
    return [tuple(d * r for d, r in zip(s, repeats, strict=True))]


def _expand(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [broadcast(operand(ops, 0).shape, tuple(_ints(ops, 1, "target shape")))]


def _pad(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    pads = [int(x) for x in a["pads"]] if "pads" in a else _ints(ops, 1, "pads")
    axes = _ints(ops, 3, "axes") if present(ops, 3) else list(range(len(s)))
    if len(pads) != 2 * len(axes):
        raise MalformedNode(f"pads {pads} are not two per axis of {len(axes)}")
    for i, axis in enumerate(axes):
        axis = axis_of(axis, len(s))
        s[axis] += pads[i] + pads[i + len(axes)]
    return [tuple(s)]


def _resize(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    """``Resize``/``Upsample``: ``sizes`` where given (kept to the input's aspect ratio by
    ``keep_aspect_ratio_policy``), else each dim times its scale, floored (a crop's ``roi``
    does not change the size: onnx's inference and onnxruntime read it so)."""
    s = list(operand(ops, 0).shape)
    axes = [axis_of(int(x), len(s)) for x in a.get("axes", range(len(s)))]
    if node.op_type == "Resize" and present(ops, 3):
        sizes = _ints(ops, 3, "sizes")
        if len(sizes) != len(axes):
            raise MalformedNode(f"its sizes {sizes[:8]} are not {len(axes)} sizes")
        policy = text(a.get("keep_aspect_ratio_policy")) or "stretch"
        if policy in ("not_larger", "not_smaller"):
            ratios = [Fraction(n, s[x]) for n, x in zip(sizes, axes, strict=True)]
            scale = min(ratios) if policy == "not_larger" else max(ratios)
            sizes = [math.floor(scale * s[x] + Fraction(1, 2)) for x in axes]
        elif policy != "stretch":
            raise MalformedNode(f"keep_aspect_ratio_policy {policy!r} is not one ONNX has")
    else:
        if "scales" in a:  # Upsample before opset 9
            scales = [float(x) for x in a["scales"]]
        else:  # Resize-10 and Upsample-9: (X, scales); Resize-11 on: (X, roi, scales)
            position = 2 if node.op_type == "Resize" and len(ops) > 2 else 1
            scales = [float(x) for x in _numbers(ops, position, "scales")]
        if len(scales) != len(axes) or not all(0 < f < math.inf for f in scales):
            raise MalformedNode(f"its scales {scales[:8]} are not {len(axes)} positive numbers")
        sizes = [math.floor(s[x] * f) for x, f in zip(axes, scales, strict=True)]
    for x, size in zip(axes, sizes, strict=True):
        s[x] = size
    return [tuple(s)]


def _one_hot(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    indices = operand(ops, 0).shape
    depth = int(_numbers(ops, 1, "depth")[0])
    if depth < 1:
        raise MalformedNode(f"a depth of {depth}")
    axis = int(a.get("axis", -1))
    axis = axis + len(indices) + 1 if axis < 0 else axis
    if not 0 <= axis <= len(indices):
        raise MalformedNode(f"axis {a.get('axis')} is out of range for {len(indices) + 1} dims")
    return [(*indices[:axis], depth, *indices[axis:])]


def _reduce(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axes = _axes_of(ops, a, 1)
    if not axes and a.get("noop_with_empty_axes", 0):
        return [s]
    picked = {axis_of(x, len(s)) for x in axes} if axes else set(range(len(s)))
    if a.get("keepdims", 1):
        return [tuple(1 if i in picked else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in picked)]


def _arg_reduce(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = axis_of(int(a.get("axis", 0)), len(s))
    if a.get("keepdims", 1):
        return [tuple(1 if i == axis else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i != axis)]


def _top_k(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    k = int(a["k"]) if "k" in a else _ints(ops, 1, "k")[0]
    axis = axis_of(int(a.get("axis", -1)), len(s))
    if not 0 <= k <= s[axis]:
        raise MalformedNode(f"k {k} is past axis {axis} of {s}")
    out = tuple(k if i == axis else d for i, d in enumerate(s))
    return [out, out]


def _non_zero(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    op = operand(ops, 0)
    if op.value is None:
        raise NeedsValue(0, "values")
    return [(len(op.shape), int(np.count_nonzero(op.value)))]


def _depth_to_space(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    n, c, *spatial = operand(ops, 0).shape
    b = int(a["blocksize"])
    if b < 1:
        raise MalformedNode(f"blocksize {b} is below 1")
    if node.op_type == "DepthToSpace":
        if c % (b * b):
            raise MalformedNode(f"its {c} channels are not a multiple of blocksize² {b * b}")
        return [(n, c // (b * b), *(d * b for d in spatial))]
    if any(d % b for d in spatial):
        raise MalformedNode(f"its dims {tuple(spatial)} are not multiples of blocksize {b}")
    return [(n, c * b * b, *(d // b for d in spatial))]


SAME_SHAPE = frozenset(
    {"Identity", "Cast", "CastLike", "Abs", "Neg", "Sign", "Not", "BitwiseNot", "Reciprocal"}
    | {"Ceil", "Floor", "Round", "Sqrt", "Exp", "Log", "Erf", "IsNaN", "IsInf", "Clip"}
    | {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"}
    | {"Relu", "LeakyRelu", "Elu", "Selu", "Celu", "ThresholdedRelu", "Shrink"}
    | {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Gelu"}
    | {"Softmax", "LogSoftmax", "Hardmax", "CumSum", "Trilu", "EyeLike", "ReverseSequence"}
    | {"LpNormalization", "MeanVarianceNormalization", "InstanceNormalization"}
    | {"BatchNormalization", "LayerNormalization", "QuantizeLinear", "DequantizeLinear"}
    | {"Scatter", "ScatterElements", "ScatterND", "Dropout"}
)
"""Node types whose (first) output has their first input's shape (:func:`same`; a norm's
extra outputs are not given, so such a node is folded only with its one output)."""

BROADCASTING = frozenset(
    {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "Where", "PRelu"}
    | {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"}
    | {"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"}
)
"""Node types whose output is their inputs' shapes broadcast together (:func:`elementwise`;
a PRelu's slope broadcasts to its input)."""

REDUCTIONS = frozenset(
    {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1"}
    | {"ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}
)

RULES: dict[str, Rule] = {
    **dict.fromkeys(BROADCASTING, elementwise),
    **dict.fromkeys(REDUCTIONS, _reduce),
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Shape": _shape,
    "Size": lambda node, ops, a: [()],
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Transpose": _transpose,
    "Concat": _concat,
    "Gather": _gather,
    "GatherElements": lambda node, ops, a: [operand(ops, 1).shape],
    "GatherND": _gather_nd,
    "Slice": _slice,
    "Split": _split,
    "Tile": _tile,
    "Expand": _expand,
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": _resize,
    "OneHot": _one_hot,
    "ArgMax": _arg_reduce,
    "ArgMin": _arg_reduce,
    "TopK": _top_k,
    "NonZero": _non_zero,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _depth_to_space,
}
"""The node types that move, pick or compute values without products, each with its output
shape rule (:mod:`onnx_fold_size` adds the products: MatMul, Einsum, Conv, pools)."""


def rule_for(node: Any) -> Rule | None:
    """The shape rule of ``node``'s type among :data:`RULES` and :data:`SAME_SHAPE`, or
    None."""
    return same if node.op_type in SAME_SHAPE else RULES.get(node.op_type)
