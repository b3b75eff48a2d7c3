"""The check before an ONNX file's totals are printed: an independent count of every node
that carries multiply-accumulates, from onnx's own inferred shapes and the textbook formula
for its op type, against what the rows count for it (issue 21: no silent undercount).

It shares nothing with the walk but the node list: not sepconv's shapes (onnx's strict or
lenient inference gives them), not the counting operations (each formula is one line
below). A node the rows lost (neither counted nor named as not counted), a node counted
otherwise than its formula, or rows whose sum is not the sum of their nodes is a bug: the
report is refused (exit 3) rather than printed with a total that lost something.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import Any

from sepconv_cli.errors import RuntimeFailure
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_shapes import attributes

Shapes = Mapping[str, Shape]


def _conv(node: Any, shapes: Shapes) -> int:
    out, weight = shapes[node.output[0]], shapes[node.input[1]]
    return prod(out) * prod(weight[1:])  # each output value: Cin/group · prod(k) products


def _conv_transpose(node: Any, shapes: Shapes) -> int:
    x, weight = shapes[node.input[0]], shapes[node.input[1]]
    return prod(x) * prod(weight[1:])  # each input value meets Cout/group · prod(k) weights


def _matmul(node: Any, shapes: Shapes) -> int:
    return prod(shapes[node.output[0]]) * shapes[node.input[0]][-1]


def _gemm(node: Any, shapes: Shapes) -> int:
    a = shapes[node.input[0]]
    inner = a[0] if attributes(node).get("transA", 0) else a[1]
    return prod(shapes[node.output[0]]) * inner


def _einsum(node: Any, shapes: Shapes) -> int:
    """Two operands: every combination of the labels' values is one product."""
    equation = attributes(node)["equation"]
    text = equation.decode() if isinstance(equation, bytes) else str(equation)
    terms = text.replace(" ", "").split("->")[0].split(",")
    if len(terms) != 2 or "..." in text:
        raise KeyError(node.name)  # not checked: the walk names or counts it
    sizes: dict[str, int] = {}
    for term, name in zip(terms, node.input, strict=True):
        for label, size in zip(term, shapes[name], strict=True):
            sizes[label] = max(size, sizes.get(label, 1))
    return prod(sizes.values())


def _recurrent(node: Any, shapes: Shapes) -> int:
    x, w, r = (shapes[name] for name in node.input[:3])
    steps_and_items = x[0] * x[1]
    directions, rows, size = w
    return steps_and_items * directions * rows * (size + r[2])  # rows = gates · hidden


FORMULAS: dict[str, Callable[[Any, Shapes], int]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Einsum": _einsum,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
}
"""MACs of every op type that carries them, from its shapes alone."""


def independent_macs(nodes: Sequence[Any], shapes: Shapes) -> dict[int, int]:
    """MACs of every node of a :data:`FORMULAS` type whose shapes ``shapes`` (onnx's
    inference, the graph inputs, the initializers) all hold, by node position."""
    found: dict[int, int] = {}
    for index, node in enumerate(nodes):
        formula = FORMULAS.get(node.op_type)
        if formula is None or node.domain not in ("", "ai.onnx"):
            continue
        try:
            found[index] = formula(node, shapes)
        except (KeyError, IndexError, ValueError):  # a shape onnx did not infer: unchecked
            continue
    return found


def check_counts(
    path: str,
    nodes: Sequence[Any],
    independent: Mapping[int, int],
    counted: Mapping[int, int],
    named: set[int],
    rows_total: int,
) -> None:
    """Refuse the report when the rows lost or miscounted a node: ``counted`` is what the
    rows count for each MAC node, ``named`` the nodes reported as not counted, and
    ``rows_total`` the MACs of every row as written."""

    def refuse(what: str) -> RuntimeFailure:
        return RuntimeFailure(
            f"{path}: internal check failed, no total printed: {what} (a bug: please report "
            "it with the file)"
        )

    for index, macs in independent.items():
        node = nodes[index]
        label = f"node {node.name or index} ({node.op_type})"
        if index in named:
            continue
        if index not in counted:
            raise refuse(f"{label} holds {macs:,} MACs by onnx's shapes but no row counts it")
        if counted[index] != macs:
            raise refuse(
                f"{label} holds {macs:,} MACs by onnx's shapes but its row counts "
                f"{counted[index]:,}"
            )
    if sum(counted.values()) != rows_total:
        raise refuse(
            f"the rows count {rows_total:,} MACs but their nodes {sum(counted.values()):,}"
        )
