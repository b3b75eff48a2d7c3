"""sepconv's own output shape rule for every ONNX node type the walk knows (data movement,
elementwise functions, reductions, products, recurrent layers): :func:`rule_for`.

Shapes are ONNX's own (batch first, NCHW). The rules are :mod:`onnx_fold_rules`' (one per
node type, shared with the fold planner), read here through :func:`walked`: a rule that
needs a small constant input's value (a Reshape's target, a Slice's starts) gets it from
:meth:`Tensors.need`, which raises :class:`NodeShapeError` when it is computed. The
convolutions, pools and matrix products get their shapes from the counting ops
(:mod:`onnx_nodes`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sepconv_cli.interchange.onnx_attrs import MalformedNode, attributes, text_attribute
from sepconv_cli.interchange.onnx_fold_rules import (
    BROADCASTING,
    REDUCTIONS,
    RULES,
    NeedsValue,
    Operand,
    Ops,
    Rule,
    elementwise,
    same,
)
from sepconv_cli.interchange.onnx_fold_size import PRODUCTS, einsum_terms
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_shapes import Tensors

__all__ = [
    "OTHER_RULES",
    "SHAPE_ONLY",
    "UNARY",
    "ShapeRule",
    "einsum_terms",
    "recurrent_sizes",
    "rule_for",
    "walked",
]

ShapeRule = Callable[[Any, list[Shape], Tensors], list[Shape]]


def walked(rule: Rule, node: Any, shapes: list[Shape], tensors: Tensors) -> list[Shape]:
    """``rule``'s output shapes for ``node``, whose present inputs (in order) have
    ``shapes``: each value it asks for is read by :meth:`Tensors.need` (a value ONNX makes a
    list of integers must be one), and the rule runs again with it."""
    ops: Ops = [None] * len(node.input)
    positions = [i for i, name in enumerate(node.input) if name]
    for position, shape in zip(positions, shapes, strict=False):
        ops[position] = Operand(shape)
    a = attributes(node)
    for _ in range(len(ops)):
        try:
            return rule(node, ops, a)
        except NeedsValue as need:
            value = tensors.need(node, need.position, need.what)
            if need.integers and (value.ndim > 1 or value.dtype.kind not in "iu"):
                raise MalformedNode(
                    f"its {need.what} is a {value.dtype} tensor of shape {tuple(value.shape)}, "
                    "not a list of integers"
                ) from None
            ops[need.position] = Operand(tuple(value.shape), value)
    return rule(node, ops, a)


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


def _recurrent(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    shapes = [op.shape for op in ops if op is not None]
    steps, batch, _, hidden, directions = recurrent_sizes(node, shapes)
    if a.get("layout", 0):
        y, state = (batch, steps, directions, hidden), (batch, directions, hidden)
    else:
        y, state = (steps, directions, batch, hidden), (directions, batch, hidden)
    return [y, state, state][: len(node.output)]


_MOVES = ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Split", "Slice", "Pad")

SHAPE_ONLY: dict[str, Rule] = {
    **{op: RULES[op] for op in (*_MOVES, "Gather", "Expand", "Tile")},
    **{op: RULES[op] for op in ("DepthToSpace", "SpaceToDepth")},
    **dict.fromkeys(("Identity", "Dropout", "Cast"), same),
}
"""Nodes that only move or relabel data: no arithmetic, so no MACs and no FLOPs (a copy at
most). They are hidden from the table unless ``--all-nodes``."""

OTHER_RULES: dict[str, Rule] = {
    **{op: RULES[op] for op in ("Concat", "Resize", "Upsample", "ArgMax", "ArgMin")},
    **{op: RULES[op] for op in REDUCTIONS},
    **dict.fromkeys(BROADCASTING - {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}, elementwise),
    "Einsum": PRODUCTS["Einsum"],
    **dict.fromkeys(("LSTM", "GRU", "RNN"), _recurrent),
}
"""Shape rules for nodes that are counted (or may be): :mod:`onnx_nodes` decides their cost."""

UNARY = frozenset(
    {"Relu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid", "Gelu", "Tanh", "LeakyRelu"}
    | {"Elu", "Selu", "Softplus", "Erf", "Softmax", "LogSoftmax", "BatchNormalization"}
    | {"LayerNormalization", "InstanceNormalization", "Sqrt", "Exp", "Neg", "Abs"}
    | {"Reciprocal", "Log", "Sin", "Cos", "Tan", "Atan", "Floor", "Ceil", "Round", "Sign"}
    | {"Not", "IsNaN", "IsInf", "Mish", "Softsign", "HardShrink", "Shrink", "ThresholdedRelu"}
    | {"Celu", "Hardmax", "CumSum", "LpNormalization", "MeanVarianceNormalization", "LRN"}
    | {"GroupNormalization", "Trilu"}
)
"""Nodes whose (first) output has their first input's shape."""


def rule_for(op_type: str) -> ShapeRule | None:
    """The walk's shape rule for ``op_type`` (``rule(node, shapes, tensors)``), or None."""
    rule = SHAPE_ONLY.get(op_type) or OTHER_RULES.get(op_type)
    if rule is None and op_type in UNARY:
        rule = same
    return None if rule is None else partial(walked, rule)
