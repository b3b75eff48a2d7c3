"""The ONNX nodes that are not a convolution network's layers, counted as peers count them:
products of two computed tensors (attention's Q·Kᵀ and A·V, an ``Einsum``), recurrent
layers (LSTM, GRU, RNN), elementwise functions and reductions.

Each is a :class:`~sepconv_cli.interchange.onnx_nodes.Counted` row of one form (nothing
here has a separable what-if). Shapes in are ONNX's (batch first); every operation is built
per item of the output's leading dim (the row's items: see :func:`items_of`), so a tensor
whose dim 0 holds windows or patches is counted whole.
"""

from __future__ import annotations

from math import prod
from typing import Any

from sepconv_cli.counting.tensor_ops import (
    Elementwise,
    GroupNorm,
    Product,
    Recurrent,
    RecurrentKind,
    Reduce,
)
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_outcomes import Counted, NotCounted, Outcome, one
from sepconv_cli.interchange.onnx_shape_rules import einsum_terms, recurrent_sizes
from sepconv_cli.interchange.onnx_shapes import NodeShapeError, Tensors

ELEMENTWISE_FLOPS: dict[str, int] = {
    **dict.fromkeys(
        (
            "Pow",
            "Sqrt",
            "Exp",
            "Log",
            "Erf",
            "Neg",
            "Abs",
            "Reciprocal",
            "Sin",
            "Cos",
            "Tan",
            "Atan",
            "Floor",
            "Ceil",
            "Round",
            "Sign",
            "Mod",
            "Max",
            "Min",
            "Equal",
            "Less",
            "Greater",
            "LessOrEqual",
            "GreaterOrEqual",
            "Not",
            "And",
            "Or",
            "Xor",
            "Where",
            "IsNaN",
            "IsInf",
            "BitShift",
            "Elu",
            "Selu",
            "Celu",
            "Softplus",
            "Softsign",
            "Mish",
            "HardShrink",
            "Shrink",
            "ThresholdedRelu",
            "PRelu",
        ),
        1,
    ),
    "Clip": 2,  # min(max(x, low), high), a Clip that is no relu/relu6
    "LogSoftmax": 5,  # as softmax: the max, the subtraction, the exp, the sum, the log
    "Hardmax": 2,  # the compare into the max, the write of 0 or 1
}
"""FLOPs per output value of an elementwise node that is not one of sepconv's activation
functions (those join a row's activation) nor ``Add``/``Sub``/``Mul``/``Div`` (one each):
one per node and value, a function such as ``exp`` or ``erf`` counted as one, a compound
function (``Elu``, ``Softplus``) too: sepconv's stated convention."""

REDUCTIONS = frozenset(
    {
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ReduceProd",
        "ReduceMean",
        "ReduceL1",
        "ReduceL2",
        "ReduceSumSquare",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ArgMax",
        "ArgMin",
    }
)
"""Reductions: one FLOP per input value (the add or compare that folds it in)."""

RECURRENT: dict[str, RecurrentKind] = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def per_item(shape: Shape) -> Shape:
    """A shape without its leading dim (the row's items) when it has one: ``(B, T, K)`` →
    ``(T, K)``; a vector or scalar is one item as it is."""
    return tuple(shape[1:]) if len(shape) >= 2 else tuple(shape)


def items_of(shape: Shape) -> int:
    """The items a node's output holds: its leading dim (the batch, or windows and patches
    folded into it), 1 for a vector or scalar."""
    return shape[0] if len(shape) >= 2 else 1


def product(
    node: Any, shapes: list[Shape], out: Shape, inner: int, tensors: Tensors
) -> tuple[Outcome, list[Shape]]:
    """A product whose ``out`` values are each a sum of ``inner`` products: MACs
    ``prod(out) · inner``; an operand that is a weight (a batched or ``W · x`` weight that
    is no dense layer) counts its values as parameters."""
    items = items_of(out)
    names = [n for n in node.input if n]
    params = sum(prod(s) for n, s in zip(names, shapes, strict=False) if tensors.is_weight(n))
    # what one item reads: each operand's share (an operand without the items is shared)
    in_elems = sum(
        prod(s) // items if s and s[0] == items and len(s) >= 2 else prod(s)
        for n, s in zip(names, shapes, strict=False)
        if not tensors.is_weight(n)
    )
    op = Product(per_item(shapes[0]), per_item(out), inner, in_elems, params)
    return Counted("matmul", one(op)), [out]


def einsum(node: Any, shapes: list[Shape], tensors: Tensors) -> tuple[Outcome, list[Shape]]:
    """A two-operand ``Einsum``: every combination of its labels' values is one
    multiply-accumulate (``bhqd,bhkd->bhqk``: b·h·q·k·d). One operand: a sum over the
    labels it drops, a reduction."""
    terms, out_labels, sizes = einsum_terms(node, shapes)
    out = tuple(sizes[label] for label in out_labels)
    if len(terms) == 1:
        op = Reduce(per_item(shapes[0]), per_item(out), "einsum")
        return Counted("reduce", one(op)), [out]
    if len(terms) != 2:
        raise NodeShapeError(f"an Einsum of {len(terms)} operands is not counted")
    every = prod(sizes[label] for label in set("".join(terms)) | set(out_labels))
    return product(node, shapes, out, every // max(prod(out), 1), tensors)


def recurrent(node: Any, shapes: list[Shape], tensors: Tensors) -> tuple[Outcome, list[Shape]]:
    """An LSTM, GRU or RNN layer (:class:`~sepconv_cli.counting.tensor_ops.Recurrent`): its
    items are the input's batch (dim 1 of ONNX's default ``layout`` 0); its parameters the
    weights it reads (W, R, B and an LSTM's peepholes)."""
    from sepconv_cli.interchange.onnx_shape_rules import rule_for

    steps, batch, size, hidden, directions = recurrent_sizes(node, shapes)
    weights = [(i, n) for i, n in enumerate(node.input) if n and tensors.is_weight(n)]
    params = sum(prod(shapes[i]) for i, _ in weights if i in (1, 2, 3, 7))
    has_bias = len(node.input) > 3 and bool(node.input[3])
    op = Recurrent(RECURRENT[node.op_type], steps, size, hidden, directions, params, has_bias)
    rule = rule_for(node.op_type)
    assert rule is not None
    return Counted("recurrent", one(op), items=batch), rule(node, shapes, tensors)


def elementwise(
    node: Any, shapes: list[Shape], out: Shape, tensors: Tensors, activation: str = "none"
) -> Outcome:
    """An elementwise node: :data:`ELEMENTWISE_FLOPS` per output value, or, for one of
    sepconv's activation functions on a tensor no row made alone (``activation``), none
    here: its FLOPs are the row's activation FLOPs, apart. A ``PRelu``'s slope is a
    parameter."""
    names = [n for n in node.input if n]
    params = 0
    if node.op_type == "PRelu" and len(names) > 1 and tensors.is_weight(names[1]):
        params = prod(shapes[1])
    computed = [s for n, s in zip(names, shapes, strict=False) if not tensors.is_weight(n)]
    first = computed[0] if computed else shapes[0]
    flops = 0 if activation != "none" else ELEMENTWISE_FLOPS.get(node.op_type, 1)
    op = Elementwise(per_item(first), per_item(out), node.op_type.lower(), flops, params)
    kind = "activation" if activation != "none" else "elementwise"
    return Counted(kind, one(op), activation=activation)


def reduction(node: Any, shapes: list[Shape], out: Shape) -> Outcome:
    """A reduction: one FLOP per input value."""
    x = shapes[0]
    # the items are the output's leading dim: a reduction over dim 0 itself is one item
    if len(out) >= 2 and out[0] == x[0]:
        op = Reduce(per_item(x), per_item(out), node.op_type.lower())
        return Counted("reduce", one(op))
    return Counted("reduce", one(Reduce(tuple(x), tuple(out), node.op_type.lower())), items=1)


def group_norm(node: Any, shapes: list[Shape], tensors: Tensors) -> Outcome:
    """``InstanceNormalization`` (a group per channel) or ``GroupNormalization``
    (``num_groups``) on ONNX's ``(N, C, ...)``: a ``normalization`` row; its scale and bias
    are parameters when they are weights."""
    from sepconv_cli.interchange.onnx_shapes import attributes

    x = shapes[0]
    if len(x) < 3:
        return NotCounted(f"a {node.op_type} on a {len(x)}-d tensor is not counted")
    groups = (
        x[1]
        if node.op_type == "InstanceNormalization"
        else int(attributes(node).get("num_groups", 1))
    )
    params = sum(
        prod(tensors.shapes[name])
        for name, identity in zip(node.input[1:3], (1.0, 0.0), strict=False)
        if name and tensors.is_weight(name) and not _exporter_constant(name, identity, tensors)
    )
    return Counted("normalization", one(GroupNorm(per_item(x), groups, params)))


def _exporter_constant(name: str, identity: float, tensors: Tensors) -> bool:
    """A ``Constant`` node's scale of ones or shift of zeros: what torch.onnx writes itself
    when it exports a GroupNorm as an InstanceNormalization (the learned affine is the Mul
    and Add after it), not a parameter of the model. An initializer is always one."""
    if name in tensors.initializers:
        return False
    value = tensors.value(name)
    return value is not None and bool((value == identity).all())


INTERPOLATION_TAPS = {"linear": 2, "cubic": 4}
"""Input values each output value of a ``Resize`` weighs, per resized dim."""


def interpolation(node: Any, shapes: list[Shape], out: Shape, mode: str) -> Outcome:
    """A linear or cubic ``Resize``: each output value a weighted sum of ``taps^d`` input
    values (d: the dims it resizes), so ``2 · taps^d − 1`` FLOPs per value (the multiplies
    and the adds), no MACs: sepconv's stated convention."""
    taps = INTERPOLATION_TAPS.get(mode)
    if taps is None:
        return NotCounted(f"{mode} interpolation's arithmetic is not counted")
    resized = sum(1 for a, b in zip(shapes[0], out, strict=False) if a != b)
    flops = 2 * taps**resized - 1
    op = Elementwise(per_item(shapes[0]), per_item(out), f"resize_{mode}", flops)
    return Counted("elementwise", one(op))
