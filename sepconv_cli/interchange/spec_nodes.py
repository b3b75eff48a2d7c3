"""Single nodes that are a layer of no cost, or no layer at all: a ``Pad`` (a conv's padding
or a ``pad`` layer), a node that gives its input back, arithmetic with a one-value constant
(an ``elementwise`` layer). Each function returns what the walk writes, or None when the
node is not one.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import attrs, padding


def zero_pad(graph: Graph, node: Any) -> tuple[Any, list[int]] | None:
    """A ``Pad`` of zeros on the spatial dims only, read by one Conv without ``auto_pad``
    (TensorFlow's exports pad this way): (the Conv, the spatial pads in ONNX's order)."""
    if node.op_type != "Pad" or len(node.input) < 2 or (len(node.input) > 3 and node.input[3]):
        return None
    a = attrs(node)
    mode = a.get("mode", b"constant")
    pads = graph.constant(node.input[1])
    value = graph.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    readers = graph.readers(node.output[0])
    if mode != b"constant" or pads is None or (value is not None and value.any()):
        return None
    if len(readers) != 1 or readers[0].op_type != "Conv" or node.output[0] in graph.outputs:
        return None
    if attrs(readers[0]).get("auto_pad", b"NOTSET") != b"NOTSET":
        return None
    flat = [int(p) for p in pads.reshape(-1)]
    rank = len(flat) // 2
    if min(flat) < 0 or any(flat[:2]) or any(flat[rank : rank + 2]):
        return None
    return readers[0], flat[2:rank] + flat[rank + 2 :]


def spatial_pads(graph: Graph, node: Any) -> Any | None:
    """A ``Pad`` of the spatial dims only, by constant amounts of zero or more (any mode and
    fill: they cost nothing), as the ``padding`` of a ``pad`` layer; None otherwise."""
    if node.op_type != "Pad" or len(graph.data_inputs(node)) != 1:
        return None
    a = attrs(node)
    value = graph.constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    if value is None and "pads" not in a:
        return None
    if len(node.input) > 3 and node.input[3]:  # axes (opset 18): not read here
        return None
    flat = [int(p) for p in (value.reshape(-1) if value is not None else a["pads"])]
    rank = len(flat) // 2
    if min(flat, default=0) < 0 or any(flat[:2]) or any(flat[rank : rank + 2]):
        return None
    return padding(flat[2:rank] + flat[rank + 2 :], rank - 2, {})


IDENTITIES = {"Add": 0.0, "Sub": 0.0, "Mul": 1.0, "Div": 1.0}
SAME_SHAPE = ("Slice", "Pad", "Cast", "Expand", "Reshape", "Squeeze", "Unsqueeze", "Flatten")
"""Ops that give their input back when their output has its shape."""
"""An elementwise op by a constant of only this value gives its input back."""


def keeps_tensor(graph: Graph, node: Any, tensor: str) -> bool:
    """A node that gives its data input back unchanged: a ``Slice`` of every value (GhostNet
    cuts its concat to the channels it already has), a ``Pad`` of nothing, a ``Cast``, or an
    ``Expand``, ``Reshape``, ``Squeeze``, ``Unsqueeze`` or ``Flatten`` to the same shape; an
    ``x + 0`` or ``x · 1`` by a one-value constant (timm's MobileOne sums its branches onto
    a 0)."""
    if node.op_type in IDENTITIES and len(graph.data_inputs(node)) == 1:
        if node.op_type in ("Sub", "Div") and graph.tensor(node.input[0]) != graph.tensor(tensor):
            return False
        other = [t for t in node.input if graph.tensor(t) != graph.tensor(tensor)]
        value = graph.constant(other[0]) if len(other) == 1 else None
        # one value: a tensor of them would be a learned weight, and the file's parameters
        if (
            value is None
            or value.size != 1
            or float(value.reshape(-1)[0]) != IDENTITIES[node.op_type]
        ):
            return False
    elif node.op_type not in SAME_SHAPE or len(node.output) != 1:
        return False
    if len(graph.data_inputs(node)) != 1 or graph.tensor(node.input[0]) != graph.tensor(tensor):
        return False
    out = str(node.output[0])
    return out in graph.shapes and graph.shape(out) == graph.shape(tensor)


ARITHMETIC = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


def arithmetic_operand(graph: Graph, node: Any, tensor: str) -> tuple[str, str] | None:
    """``x + c``, ``x − c``, ``x · c`` or ``x / c`` with ``x`` the walked ``tensor`` (first,
    for ``−`` and ``/``) and one other input ``c`` that is no data: the operation and
    ``c``'s name, or None."""
    op = ARITHMETIC.get(node.op_type)
    if op is None or len(node.input) != 2 or len(graph.data_inputs(node)) != 1:
        return None
    x = graph.tensor(tensor)
    if op in ("sub", "div") and graph.tensor(node.input[0]) != x:
        return None
    other = [t for t in node.input if graph.tensor(t) != x]
    return (op, other[0]) if len(other) == 1 else None


def arithmetic(graph: Graph, node: Any, tensor: str) -> str | None:
    """``x + c``, ``x − c``, ``x · c`` or ``x / c`` by a one-value constant ``c`` (a
    learned one included: the ONNX reader counts no parameter for a single value): the
    ``operation`` of an ``elementwise`` layer, or None."""
    found = arithmetic_operand(graph, node, tensor)
    if found is None:
        return None
    op, other = found
    value = graph.constant(other)
    if value is None or value.size != 1:
        return None
    out = str(node.output[0])
    return op if out in graph.shapes and graph.shape(out) == graph.shape(tensor) else None
