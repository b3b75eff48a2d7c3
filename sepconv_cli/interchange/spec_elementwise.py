"""Powers, functions of one value and broadcasts as spec layers, for ``export-spec`` (the
layers: :mod:`sepconv_cli.spec.elementwise_more`; issue 21 item 5).

Rules (each node is read in the layout the walk holds its input in,
:mod:`~sepconv_cli.interchange.spec_tensors`):

- A ``Pow`` of the walked tensor by a one-value constant exponent (a learned one
  included: the reader counts no parameter for it) that keeps its shape is an
  ``elementwise`` with ``operation: pow`` (an STFT's magnitude, a layer norm written out).
- A ``Sqrt``, ``Reciprocal``, ``Exp``, ``Log``, ``Abs``, ``Neg``, ``Erf``, ``Sin``,
  ``Cos``, ``Floor``, ``Ceil``, ``Round`` or ``Sign`` of the walked tensor is an
  ``elementwise`` with that ``operation`` (an activation written out of such nodes is
  read as the activation first: the walk looks for those before).
- An ``Expand`` to a shape of the same rank that leaves the batch as it is (a norm
  broadcast back over the values it divides) is an ``expand`` to its output's spec shape.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.spec.elementwise_more import FUNCTIONS

Fields = dict[str, Any]
_FUNCTION_OPS = {op: name for name, op in FUNCTIONS.items()}


def operation_fields(graph: Graph, node: Any, tensor: str) -> Fields | None:
    """A ``Pow`` by a one-value constant, or a function of one value, as an
    ``elementwise``'s fields, or None."""
    if len(node.output) != 1 or graph.tensor(node.input[0]) != graph.tensor(tensor):
        return None
    out = str(node.output[0])
    if graph.shapes.get(out) != graph.shape(tensor):
        return None
    if node.op_type == "Pow" and len(node.input) == 2:
        exponent = graph.constant(node.input[1])
        if exponent is None or exponent.size != 1:
            return None
        return {"type": "elementwise", "operation": "pow"}
    function = _FUNCTION_OPS.get(node.op_type)
    if function is None or len([n for n in node.input if n]) != 1:
        return None
    return {"type": "elementwise", "operation": function}


def expand_fields(graph: Graph, node: Any, tensor: str, layout: T.Layout) -> Fields | None:
    """An ``Expand`` of the walked tensor as an ``expand``'s fields, or None."""
    if node.op_type != "Expand" or graph.tensor(node.input[0]) != graph.tensor(tensor):
        return None
    out = str(node.output[0])
    if out not in graph.shapes or len(graph.data_inputs(node)) != 1:
        return None
    x, y = graph.shape(tensor), graph.shape(out)
    if len(x) != len(y) or x[0] != y[0]:
        return None  # a new dim, or the batch broadcast: no spec shape holds it
    target = T.spec_shape(graph, out, layout)
    if target is None or T.spec_shape(graph, tensor, layout) is None:
        return None
    return {"type": "expand", "shape": list(target)}


def elementwise_step(
    walker: Any, node: Any, tensor: str, name: str, items: list[Any]
) -> str | None:
    """``node`` as an ``elementwise`` (``pow``, ``sqrt``...) or an ``expand``: appended to
    ``items``; the tensor after it (its activation taken), or None when it is neither."""
    graph: Graph = walker.graph
    layout: T.Layout = walker.layout(tensor)
    if node.op_type == "Expand":
        fields = expand_fields(graph, node, tensor, layout)
    else:
        fields = operation_fields(graph, node, tensor)
    if fields is None:
        return None
    if T.spec_shape(graph, str(node.output[0]), layout) is None:
        return None
    result: str = walker.node_layer(items, node, name, fields, layout)
    return result


COUNTED_PRODUCTS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum"})
"""Nodes the reader counts MACs (and a weight's parameters) for."""


def made_by_products(graph: Graph, tensor: str, limit: int = 256) -> bool:
    """Whether a node of :data:`COUNTED_PRODUCTS` makes ``tensor`` or what it is computed
    from (EdgeNeXt's positional encoding: a conv of a grid the graph computes): such a
    tensor is no constant operand of an ``elementwise`` (the reader counts that conv)."""
    if "all producers" not in graph.memo:  # static nodes too (graph.producer has none)
        graph.memo["all producers"] = {str(o): n for n in graph.nodes for o in n.output}
    producers: dict[str, Any] = graph.memo["all producers"]
    todo, seen = [str(tensor)], set[int]()
    while todo and len(seen) < limit:
        name = todo.pop()
        node = producers.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type in COUNTED_PRODUCTS:
            return True
        todo.extend(str(t) for t in node.input if t)
    return False
