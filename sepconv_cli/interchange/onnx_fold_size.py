"""What folding a node would make, known before it is evaluated: :func:`plan`.

sepconv evaluates a node whose inputs are all constants (the ``Shape → Gather → Concat →
Reshape`` arithmetic of exporters) to learn the shapes it decides. A model file is untrusted:
a 186-byte ``ConstantOfShape`` can ask for ten billion values, a ``Range`` for two billion, an
``Einsum`` of three 4,096-value vectors for 68 billion steps, and a ``Mul`` of two dims for a
value NumPy's int64 silently wraps negative. So before anything is evaluated, the plan gives
every output's shape from the inputs' shapes and small values (:mod:`onnx_fold_rules`, and
the products here), in Python's exact ints, and says why the node must not be evaluated:

* an output of more than :data:`~sepconv_cli.interchange.onnx_load.FOLD_LIMIT` values;
* more than :data:`WORK_LIMIT` steps (the products of a ``MatMul``, ``Einsum``, ``Conv``,
  the windows of a pool);
* an integer output that could leave its type's range (NumPy wraps; sepconv never counts a
  wrapped dim).

A node type with no rule is not evaluated at all: its value stays unknown. Nothing here
allocates in proportion to a dim or a value: sizes are products of Python ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from sepconv_cli.interchange.onnx_attrs import (
    MalformedNode,
    NodeShapeError,
    attributes,
    matmul_shape,
    text,
    text_attribute,
)
from sepconv_cli.interchange.onnx_fold_rules import (
    NeedsValue,
    Operand,
    Ops,
    Rule,
    operand,
    rule_for,
)
from sepconv_cli.interchange.onnx_load import FOLD_LIMIT, Shape
from sepconv_cli.interchange.optional import require_onnx

__all__ = [
    "FOLD_LIMIT",
    "WORK_LIMIT",
    "NeedsValue",
    "Operand",
    "Plan",
    "describe",
    "einsum_terms",
    "plan",
]

WORK_LIMIT = FOLD_LIMIT * FOLD_LIMIT
"""Most elementary steps (multiply-adds, window positions) one folded node may take: a
``MatMul`` of two 4,096-value constants fits, an ``Einsum`` over three does not."""


@dataclass(frozen=True)
class Plan:
    """A node's output shapes, and why it must not be evaluated ("" when it may be)."""

    shapes: list[Shape]
    refusal: str = ""


def plan(node: Any, ops: Ops, limit: int = FOLD_LIMIT) -> Plan | None:
    """The :class:`Plan` for folding ``node`` on ``ops`` (by input position); None when no
    rule covers its type or its inputs make no valid output (it is then not evaluated).
    Raises :class:`NeedsValue` when an output's shape depends on a value that is not held."""
    rule = PRODUCTS.get(node.op_type) or rule_for(node)
    if rule is None or node.domain not in ("", "ai.onnx"):
        return None
    try:
        shapes = rule(node, ops, attributes(node))
        outputs = [o for o in node.output if o]
        if len(shapes) < len(outputs) or any(d < 0 for s in shapes for d in s):
            return None
        return Plan(shapes, _refusal(node, ops, shapes, limit))
    except (NodeShapeError, IndexError, KeyError, ValueError, TypeError, OverflowError):
        return None
    except ZeroDivisionError:
        return None


def describe(node: Any) -> str:
    """``node /cos (ConstantOfShape)``: how messages name a node."""
    label = node.name or (f"writing {node.output[0]!r}" if node.output else "(unnamed)")
    return f"node {label} ({node.op_type})"


def _refusal(node: Any, ops: Ops, shapes: list[Shape], limit: int) -> str:
    largest = max((prod(s) for s in shapes), default=0)
    if largest > limit:
        return (
            f"{describe(node)}: its output would hold {largest:,} values; sepconv folds "
            f"constants of up to {limit:,}"
        )
    steps = _work(node, ops, shapes)
    if steps > WORK_LIMIT:
        return (
            f"{describe(node)}: evaluating it would take {steps:,} steps; sepconv folds "
            f"nodes of up to {WORK_LIMIT:,}"
        )
    bound, top = integer_bound(node, ops, shapes)
    if bound > top:
        size = f"{bound:,}" if bound < 10**30 else f"about 2**{bound.bit_length() - 1}"
        return (
            f"{describe(node)}: its integer values could reach {size}, past the largest its "
            f"type holds ({top:,}); sepconv does not fold it"
        )
    return ""


def _work(node: Any, ops: Ops, shapes: list[Shape]) -> int:
    """Elementary steps evaluating ``node`` takes: its products' multiply-adds, a pool's
    window positions, else one per value read or written."""
    out = prod(shapes[0]) if shapes else 0
    op = node.op_type
    if op in ("Shape", "Size"):  # reads the dims alone
        return out + 1
    if op in ("MatMul", "MatMulInteger"):
        return out * operand(ops, 0).shape[-1]
    if op == "Gemm":
        return out * operand(ops, 0).shape[0 if attributes(node).get("transA") else 1]
    if op == "Einsum":
        shapes_in = [o.shape for o in ops if o is not None]
        return prod(einsum_terms(node, shapes_in)[2].values()) * len(ops)
    if op == "Conv":
        return out * prod(operand(ops, 1).shape[1:])
    if op in POOLS and not op.startswith("Global"):
        return out * prod(int(k) for k in attributes(node)["kernel_shape"])
    return out + sum(prod(o.shape) for o in ops if o is not None)


# -- products: matrix products, convolutions, pools -----------------------------------------


def _matmul(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    return [matmul_shape(operand(ops, 0).shape, operand(ops, 1).shape)]


def _gemm(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    x, y = operand(ops, 0).shape, operand(ops, 1).shape
    if len(x) != 2 or len(y) != 2:
        raise MalformedNode(f"a Gemm of other than matrices: {x} × {y}")
    (m, k), (k2, n) = x[:: -1 if a.get("transA") else 1], y[:: -1 if a.get("transB") else 1]
    if k != k2:
        raise MalformedNode(f"inner dims differ: {x} × {y}")
    return [(m, n)]


def einsum_terms(node: Any, shapes: list[Shape]) -> tuple[list[str], str, dict[str, int]]:
    """An ``Einsum``'s operand labels, output labels and every label's size (``...``
    spelled as one upper-case label per broadcast dim, so the arithmetic is on letters)."""
    equation = text_attribute(node, "equation", "").replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise MalformedNode(f"equation {equation!r} has {len(terms)} operands, not {len(shapes)}")
    broad = max(
        (len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes, strict=True)),
        default=0,
    )
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: max(broad, 0)]
    sizes: dict[str, int] = {}
    spelled = []
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            extra = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", letters[len(letters) - extra :] if extra > 0 else "")
        if len(term) != len(shape):
            raise MalformedNode(f"operand {term!r} of {equation!r} does not fit shape {shape}")
        for label, size in zip(term, shape, strict=True):
            known = sizes.get(label)
            if known is None or known == 1:
                sizes[label] = size
            elif size not in (1, known):
                raise MalformedNode(f"label {label!r} of {equation!r} is both {known} and {size}")
        spelled.append(term)
    if arrow:
        out = rhs.replace("...", letters)
    else:  # implicit output: the broadcast dims, then the labels used once, sorted
        used = "".join(t.replace("...", "") for t in terms)
        out = letters + "".join(sorted(c for c in set(used) if used.count(c) == 1))
    return spelled, out, sizes


def _einsum(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    _, out, sizes = einsum_terms(node, [op.shape for op in ops if op is not None])
    return [tuple(sizes[label] for label in out)]


def _windows(node: Any, ops: Ops, a: dict[str, Any], kernel: list[int]) -> list[int]:
    """The output positions along each spatial dim of a convolution or pool."""
    spatial = operand(ops, 0).shape[2:]
    if len(kernel) != len(spatial):
        raise MalformedNode(f"a kernel of {len(kernel)} dims on {len(spatial)} spatial dims")
    strides = [int(x) for x in a.get("strides", [1] * len(spatial))]
    dilations = [int(x) for x in a.get("dilations", [1] * len(spatial))]
    pads = [int(x) for x in a.get("pads", [0] * 2 * len(spatial))]
    auto = text(a.get("auto_pad")) or "NOTSET"
    ceil = bool(a.get("ceil_mode", 0))
    out = []
    for i, d in enumerate(spatial):
        if strides[i] < 1 or dilations[i] < 1 or kernel[i] < 1:
            raise MalformedNode("a stride, dilation or kernel below 1")
        reach = dilations[i] * (kernel[i] - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-d // strides[i]))
            continue
        span = d - reach + (pads[i] + pads[i + len(spatial)] if auto == "NOTSET" else 0)
        out.append((-(-span // strides[i]) if ceil else span // strides[i]) + 1)
    return out


def _conv(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    x, w = operand(ops, 0).shape, operand(ops, 1).shape
    if len(x) < 3 or len(w) != len(x) or x[1] != w[1] * int(a.get("group", 1)):
        raise MalformedNode(f"weight {w} does not fit input {x}")
    return [(x[0], w[0], *_windows(node, ops, a, list(w[2:])))]


def _pool(node: Any, ops: Ops, a: dict[str, Any]) -> list[Shape]:
    x = operand(ops, 0).shape
    if node.op_type.startswith("Global"):
        return [(*x[:2], *(1 for _ in x[2:]))]
    out = (*x[:2], *_windows(node, ops, a, [int(k) for k in a["kernel_shape"]]))
    return [out] * max(1, len(node.output))


POOLS = frozenset(
    {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
)

PRODUCTS: dict[str, Rule] = {
    **dict.fromkeys(POOLS, _pool),
    "MatMul": _matmul,
    "MatMulInteger": _matmul,
    "Gemm": _gemm,
    "Einsum": _einsum,
    "Conv": _conv,
}
"""The folded node types whose work grows faster than their output: each one's shape rule
(:func:`_work` counts its steps)."""


# -- integer overflow ----------------------------------------------------------------------

_SUMS = frozenset({"Add", "Sub", "Sum", "Mean"})
_PER_VALUE = frozenset({"ReduceSum", "ReduceL1", "ReduceMean", "CumSum"})
_SQUARES = frozenset({"ReduceSumSquare", "ReduceL2"})


def integer_bound(node: Any, ops: Ops, shapes: list[Shape]) -> tuple[int, int]:
    """A bound on the magnitude of ``node``'s integer output, from its held inputs' values
    (Python ints: exact), and the largest its type holds; ``(0, 0)`` for an output that
    cannot overflow (a float, a pick of its inputs' values)."""
    op = node.op_type
    values = [o.value if o is not None else None for o in ops]
    if op in ("Shape", "Size"):
        shape = operand(ops, 0).shape
        return (max(shape, default=0) if op == "Shape" else prod(shape)), _INT64_MAX
    target = _target_type(node, values)
    if target is None or not np.issubdtype(target, np.integer):
        return 0, 0
    top = int(np.iinfo(target).max)
    held = [_magnitudes(v) for v in values if v is not None]
    if not held:
        return 0, top
    largest = [max(m, default=0) for m in held]
    if op in ("Cast", "CastLike", "Neg", "Abs", "Div"):
        return largest[0], top
    if op in _SUMS:
        return sum(largest), top
    if op == "Mul":
        return prod(largest), top
    if op == "Pow":
        return _power(largest[0], largest[1] if len(largest) > 1 else 1), top
    if op in _PER_VALUE:
        return sum(held[0]), top
    if op in _SQUARES:
        return sum(m * m for m in held[0]), top
    if op == "ReduceProd":
        return prod(max(m, 1) for m in held[0]), top
    if op in ("MatMul", "MatMulInteger", "Gemm", "Einsum"):
        steps = _work(node, ops, shapes) // max(1, prod(shapes[0]))
        return steps * prod(largest[:2]), top
    if op == "BitShift":
        return _power(2, largest[1]) * largest[0], top
    return 0, top


_INT64_MAX = 2**63 - 1


def _target_type(node: Any, values: list[Any]) -> Any:
    """The NumPy type of ``node``'s output where its values decide it, else None."""
    if node.op_type == "Cast":
        to = attributes(node).get("to")
        return require_onnx().helper.tensor_dtype_to_np_dtype(to) if to else None
    if node.op_type == "CastLike":
        return values[1].dtype if len(values) > 1 and values[1] is not None else None
    held = [np.asarray(v) for v in values if v is not None]
    return np.result_type(*held) if held else None


def _magnitudes(value: Any) -> list[int]:
    """The magnitude of each value in ``value`` as a Python int (a held value has at most
    :data:`FOLD_LIMIT`); a float's NaN or infinity (a ``Cast`` of one to an integer is
    undefined) reads as beyond any type."""
    array = np.asarray(value).reshape(-1)
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        return [int(abs(v)) if ok else 2**128 for v, ok in zip(array.tolist(), finite, strict=True)]
    return [abs(int(v)) for v in array.tolist()]


def _power(base: int, exponent: int) -> int:
    """``base ** exponent``; past an exponent of :data:`FOLD_LIMIT`, ``base ** FOLD_LIMIT``
    (already past any integer type: a huge exponent is never raised in full)."""
    if base <= 1:
        return base if exponent >= 1 else 1
    return int(base ** min(max(exponent, 0), FOLD_LIMIT))
