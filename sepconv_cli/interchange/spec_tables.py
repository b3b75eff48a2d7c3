"""A learned table added to (or multiplying) a tensor, and a ``Concat`` along another dim
than the channels, as spec layers for ``export-spec`` (the layers:
:mod:`sepconv_cli.counting.tables`; issue 21 item 5).

Rules (each node is read in the layout the walk holds its input in,
:mod:`~sepconv_cli.interchange.spec_tensors`):

- An ``Add`` or ``Mul`` of the walked tensor and a learned tensor of two or more values
  (one the ONNX reader counts as parameters: ``Graph.weights``) is a ``learned`` layer
  (``operation: mul`` for a ``Mul``): its ``shape`` is the table's ONNX shape padded with
  leading 1s to the input's dims, each dim moved to its spec dim
  (:func:`~sepconv_cli.interchange.spec_tensors.spec_axis`), leading 1s dropped. A table
  that varies along the batch, or whose broadcast is not the node's output in the spec's
  shapes, is none (the node is named).
- A ``Concat`` of computed tensors held in one layout, along a dim that is not the batch,
  is a ``concat`` naming its inputs in ``from``, with ``axis`` that dim in the spec's
  order when it is not the channels (:func:`concat_axis`).
"""

from __future__ import annotations

from math import prod
from typing import Any

from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.tables import broadcast
from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import attrs

Fields = dict[str, Any]
_OPERATIONS = {"Add": "add", "Mul": "mul"}


def learned_fields(graph: Graph, node: Any, tensor: str, layout: T.Layout) -> Fields | None:
    """An ``Add``/``Mul`` of a learned table as a ``learned`` layer's fields, or None."""
    operation = _OPERATIONS.get(node.op_type)
    if operation is None or len(node.input) != 2 or len(graph.data_inputs(node)) != 1:
        return None
    x = graph.tensor(tensor)
    other = [t for t in node.input if graph.tensor(t) != x]
    if len(other) != 1 or other[0] not in graph.weights:
        return None
    value = graph.constant(other[0])  # an initializer's shape may be only its value's
    table = graph.shapes.get(other[0]) or (tuple(value.shape) if value is not None else None)
    if table is None:
        return None
    shape = graph.shape(tensor)
    out = str(node.output[0])
    if prod(table) < 2 or len(table) > len(shape) or out not in graph.shapes:
        return None
    held, after = T.spec_shape(graph, tensor, layout), T.spec_shape(graph, out, layout)
    if held is None or after is None:
        return None
    padded = (1,) * (len(shape) - len(table)) + tuple(table)
    spec = [1] * len(held)
    for axis, size in enumerate(padded):
        if size == 1:
            continue
        dim = T.spec_axis(graph, tensor, axis, layout)
        if dim is None:  # along the batch
            return None
        spec[dim] = int(size)
    while len(spec) > 1 and spec[0] == 1:
        spec.pop(0)
    try:
        if broadcast(held, tuple(spec)) != after:
            return None
    except ShapeError:
        return None
    fields: Fields = {"type": "learned", "shape": spec}
    if operation == "mul":
        fields["operation"] = "mul"
    return fields


def learned_step(walker: Any, node: Any, tensor: str, name: str, items: list[Any]) -> str | None:
    """``node`` as a ``learned`` layer appended to ``items``: the tensor after it (its
    activation taken), or None when it is none."""
    graph: Graph = walker.graph
    layout: T.Layout = walker.layout(tensor)
    fields = learned_fields(graph, node, tensor, layout)
    if fields is None:
        return None
    result: str = walker.node_layer(items, node, name, fields, layout)
    return result


def concat_axis(graph: Graph, node: Any, inputs: list[str], layouts: list[T.Layout]) -> int | None:
    """The spec dim a ``Concat`` of ``inputs`` (held in ``layouts``) joins along: -1 for
    the channels (a ``concat`` without ``axis``, which may also join tensors held in other
    layouts, as branches); None along the batch, or along another dim when the inputs are
    not distinct tensors held in one layout."""
    rank = len(graph.shape(node.output[0]))
    axis = int(attrs(node).get("axis", 1)) % rank
    dim = T.spec_axis(graph, inputs[0], axis, layouts[0])
    held = T.spec_shape(graph, inputs[0], layouts[0])
    if dim is None or held is None or len(held) < 2:
        return None
    if dim == len(held) - 1:
        return -1
    distinct = len({graph.tensor(t) for t in inputs}) == len(inputs)
    return dim if distinct and len(set(layouts)) == 1 else None
