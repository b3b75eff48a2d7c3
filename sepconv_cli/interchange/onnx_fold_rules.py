"""The output shapes of a node that sepconv may fold, from its inputs' shapes and small
values alone, before anything is evaluated (:func:`rule_for`; :mod:`onnx_fold_size` decides
from them whether the node is evaluated).

Each rule follows the ONNX operator's definition (attributes before the opset that made them
inputs) and computes in Python's exact ints: a dim of 2**40 times another is 2**80, never a
wrapped int64. A rule raises :class:`Invalid` where the inputs make no valid output (the node
is then not folded, and the walk's own rules name the fault) and :class:`NeedsValue` where an
output's shape depends on a value that is not held.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.optional import require_onnx


@dataclass(frozen=True)
class Operand:
    """One input of a node about to be folded: its shape, and its value where it is held
    (None: a constant too large to hold, known by its shape only)."""

    shape: Shape
    value: Any | None = None


Ops = list[Operand | None]  # by input position; None for an absent optional input


class NeedsValue(Exception):
    """A rule needs the value of input ``position`` (its ``what``), which is not held."""

    def __init__(self, position: int, what: str) -> None:
        super().__init__(what)
        self.position, self.what = position, what


class Invalid(Exception):
    """The node's inputs or attributes make no valid output."""


# -- reading inputs and attributes ---------------------------------------------------------


def attributes_of(node: Any) -> dict[str, Any]:
    """``node``'s attributes by name, as Python values."""
    value = require_onnx().helper.get_attribute_value
    return {a.name: value(a) for a in node.attribute}


def operand(ops: Ops, position: int) -> Operand:
    """Input ``position``; :class:`Invalid` when it is absent."""
    op = ops[position] if position < len(ops) else None
    if op is None:
        raise Invalid(f"input {position} is absent")
    return op


def _present(ops: Ops, position: int) -> bool:
    return position < len(ops) and ops[position] is not None


def _numbers(ops: Ops, position: int, what: str) -> list[Any]:
    """Input ``position``'s values as Python numbers (ints stay exact)."""
    op = operand(ops, position)
    if op.value is None:
        raise NeedsValue(position, what)
    return list(np.asarray(op.value).reshape(-1).tolist())


def _ints(ops: Ops, position: int, what: str) -> list[int]:
    return [int(v) for v in _numbers(ops, position, what)]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise Invalid(f"axis {axis} outside rank {rank}")
    return axis + rank if axis < 0 else axis


def broadcast(*shapes: Shape) -> Shape:
    """NumPy's broadcasting of ``shapes``; :class:`Invalid` where they do not broadcast."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise Invalid("shapes do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _axes_of(node: Any, ops: Ops, a: dict[str, Any], position: int) -> list[int] | None:
    if "axes" in a:
        return [int(x) for x in a["axes"]]
    return _ints(ops, position, "axes") if _present(ops, position) else None


# -- shape rules ---------------------------------------------------------------------------

Rule = Callable[[Any, Ops, dict[str, Any]], list[Shape]]


def _same(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [operand(ops, 0).shape] * max(1, len(node.output))


def _elementwise(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
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
            raise Invalid("a Range of step 0")
        return [(max(0, -((start - limit) // delta)),)]
    span = (float(limit) - float(start)) / float(delta)
    return [(max(0, math.ceil(span)),)]


def _shape(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    rank = len(operand(ops, 0).shape)
    return [(len(range(rank)[a.get("start", 0) : a.get("end", rank)]),)]


def _reshape(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    source = operand(ops, 0).shape
    target = _ints(ops, 1, "target shape")
    keep = not a.get("allowzero", 0)
    dims = [source[i] if d == 0 and keep else d for i, d in enumerate(target)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise Invalid("a bad target shape")
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        if not known or prod(source) % known:
            raise Invalid("a -1 that no size fills")
        dims[dims.index(-1)] = prod(source) // known
    if prod(dims) != prod(source):
        raise Invalid("a reshape that changes the size")
    return [tuple(dims)]


def _flatten(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = int(a.get("axis", 1))
    axis = axis + len(s) if axis < 0 else axis
    if not 0 <= axis <= len(s):
        raise Invalid("a bad axis")
    return [(prod(s[:axis]), prod(s[axis:]))]


def _squeeze(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axes = _axes_of(node, ops, a, 1)
    if not axes:
        return [tuple(d for d in s if d != 1)]
    drop = {_axis(x, len(s)) for x in axes}
    if any(s[i] != 1 for i in drop):
        raise Invalid("a squeezed dim is not 1")
    return [tuple(d for i, d in enumerate(s) if i not in drop)]


def _unsqueeze(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    axes = _axes_of(node, ops, a, 1) or []
    rank = len(s) + len(axes)
    placed = sorted({_axis(x, rank) for x in axes})
    if len(placed) != len(axes):
        raise Invalid("repeated axes")
    for x in placed:
        s.insert(x, 1)
    return [tuple(s)]


def _transpose(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    perm = [int(p) for p in a.get("perm", range(len(s) - 1, -1, -1))]
    if sorted(perm) != list(range(len(s))):
        raise Invalid("not a permutation")
    return [tuple(s[p] for p in perm)]


def _concat(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    shapes = [op.shape for op in ops if op is not None]
    first = shapes[0]
    axis = _axis(int(a["axis"]), len(first))
    for s in shapes:
        if len(s) != len(first) or any(
            d != e for i, (d, e) in enumerate(zip(s, first, strict=False)) if i != axis
        ):
            raise Invalid("inputs that differ off the axis")
    return [(*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])]


def _gather(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    data, indices = operand(ops, 0).shape, operand(ops, 1).shape
    axis = _axis(int(a.get("axis", 0)), len(data))
    return [(*data[:axis], *indices, *data[axis + 1 :])]


def _gather_nd(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    data, indices = operand(ops, 0).shape, operand(ops, 1).shape
    batch = int(a.get("batch_dims", 0))
    if not indices or indices[-1] > len(data) - batch:
        raise Invalid("indices deeper than the data")
    return [(*indices[:-1], *data[batch + indices[-1] :])]


def _slice(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    if "starts" in a:  # opset < 10: attributes
        starts, ends = [int(x) for x in a["starts"]], [int(x) for x in a["ends"]]
        axes = [int(x) for x in a.get("axes", range(len(starts)))]
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(ops, 1, "starts"), _ints(ops, 2, "ends")
        axes = _ints(ops, 3, "axes") if _present(ops, 3) else list(range(len(starts)))
        steps = _ints(ops, 4, "steps") if _present(ops, 4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise Invalid("a bad slice")
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        axis = _axis(axis, len(s))
        first, last, step = slice(start, end, step).indices(s[axis])
        s[axis] = max(0, -((first - last) // step))
    return [tuple(s)]


def _split(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = _axis(int(a.get("axis", 0)), len(s))
    if "split" in a:
        sizes = [int(x) for x in a["split"]]
    elif _present(ops, 1):
        sizes = _ints(ops, 1, "split sizes")
    else:
        parts = int(a.get("num_outputs", len(node.output)))
        chunk = -(-s[axis] // parts)
        sizes = [max(0, min(chunk, s[axis] - i * chunk)) for i in range(parts)]
    if sum(sizes) != s[axis] or any(x < 0 for x in sizes):
        raise Invalid("split sizes that do not add up")
    return [(*s[:axis], size, *s[axis + 1 :]) for size in sizes]


def _tile(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s, repeats = operand(ops, 0).shape, _ints(ops, 1, "repeats")
    if len(repeats) != len(s):
        raise Invalid("repeats of another rank")
    return [tuple(d * r for d, r in zip(s, repeats, strict=False))]


def _expand(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [broadcast(operand(ops, 0).shape, tuple(_ints(ops, 1, "target shape")))]


def _pad(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = list(operand(ops, 0).shape)
    pads = [int(x) for x in a["pads"]] if "pads" in a else _ints(ops, 1, "pads")
    axes = _ints(ops, 3, "axes") if _present(ops, 3) else list(range(len(s)))
    if len(pads) != 2 * len(axes):
        raise Invalid("pads of another rank")
    for i, axis in enumerate(axes):
        axis = _axis(axis, len(s))
        s[axis] += pads[i] + pads[i + len(axes)]
    return [tuple(s)]


def _resize(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    if "axes" in a or text(a.get("coordinate_transformation_mode")) == "tf_crop_and_resize":
        raise Invalid("a form not folded")
    if node.op_type == "Resize" and _present(ops, 3) and len(ops) > 3:
        sizes = _ints(ops, 3, "sizes")
        if len(sizes) != len(s) or text(a.get("keep_aspect_ratio_policy")) not in ("", "stretch"):
            raise Invalid("a form not folded")
        return [tuple(sizes)]
    if "scales" in a:  # Upsample before opset 9
        scales = [float(x) for x in a["scales"]]
    else:
        position = 2 if node.op_type == "Resize" and len(ops) > 2 else 1
        scales = [float(x) for x in _numbers(ops, position, "scales")]
    if len(scales) != len(s):
        raise Invalid("scales of another rank")
    return [tuple(math.floor(d * f) for d, f in zip(s, scales, strict=False))]


def text(value: Any) -> str:
    """A string attribute as text."""
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _one_hot(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    indices = operand(ops, 0).shape
    depth = int(_numbers(ops, 1, "depth")[0])
    if depth < 1:
        raise Invalid("a depth below 1")
    axis = int(a.get("axis", -1))
    axis = axis + len(indices) + 1 if axis < 0 else axis
    if not 0 <= axis <= len(indices):
        raise Invalid("a bad axis")
    return [(*indices[:axis], depth, *indices[axis:])]


def _reduce(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axes = _axes_of(node, ops, a, 1)
    if not axes and a.get("noop_with_empty_axes", 0):
        return [s]
    picked = {_axis(x, len(s)) for x in axes} if axes else set(range(len(s)))
    if a.get("keepdims", 1):
        return [tuple(1 if i in picked else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in picked)]


def _arg_reduce(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    axis = _axis(int(a.get("axis", 0)), len(s))
    if a.get("keepdims", 1):
        return [tuple(1 if i == axis else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i != axis)]


def _top_k(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    s = operand(ops, 0).shape
    k = int(a["k"]) if "k" in a else _ints(ops, 1, "k")[0]
    axis = _axis(int(a.get("axis", -1)), len(s))
    if not 0 <= k <= s[axis]:
        raise Invalid("a k past the axis")
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
        raise Invalid("a block below 1")
    if node.op_type == "DepthToSpace":
        if c % (b * b):
            raise Invalid("channels the block does not divide")
        return [(n, c // (b * b), *(d * b for d in spatial))]
    if any(d % b for d in spatial):
        raise Invalid("dims the block does not divide")
    return [(n, c * b * b, *(d // b for d in spatial))]


SAME_SHAPE = frozenset(
    {"Identity", "Cast", "CastLike", "Abs", "Neg", "Sign", "Not", "BitwiseNot", "Reciprocal"}
    | {"Ceil", "Floor", "Round", "Sqrt", "Exp", "Log", "Erf", "IsNaN", "IsInf", "Clip"}
    | {"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"}
    | {"Relu", "LeakyRelu", "Elu", "Selu", "Celu", "ThresholdedRelu", "PRelu", "Shrink"}
    | {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Gelu"}
    | {"Softmax", "LogSoftmax", "Hardmax", "CumSum", "Trilu", "EyeLike", "ReverseSequence"}
    | {"LpNormalization", "MeanVarianceNormalization", "InstanceNormalization"}
    | {"BatchNormalization", "LayerNormalization", "QuantizeLinear", "DequantizeLinear"}
    | {"Scatter", "ScatterElements", "ScatterND", "Dropout"}
)
"""Node types whose every output has its first input's shape (a norm's or Dropout's extra
outputs aside: such a node is folded only with its one output)."""

BROADCASTING = frozenset(
    {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "Where"}
    | {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"}
    | {"BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"}
)
"""Node types whose output is their inputs' shapes broadcast together."""

REDUCTIONS = frozenset(
    {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1"}
    | {"ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}
)

RULES: dict[str, Rule] = {
    **dict.fromkeys(BROADCASTING, _elementwise),
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
    if node.op_type in SAME_SHAPE:
        single = len([o for o in node.output if o]) <= (2 if node.op_type == "Dropout" else 1)
        return _same if single else None
    return RULES.get(node.op_type)
