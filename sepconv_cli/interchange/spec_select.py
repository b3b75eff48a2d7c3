"""A ``Gather`` of one index of a computed tensor (silero-vad's ``state[0]``, one time
step of its encoder's output) as a ``slice`` of that index and a ``reshape`` without its
dim: the reader counts no MACs and no parameters for it, nor do these layers.

Rules:

- The data is a computed tensor or a graph input (a learned table read by a ``Gather``
  is an embedding: not this), the index one constant integer (a scalar drops the dim, a
  one-element list keeps it), the axis not the batch's as the spec holds the tensor.
- The output's layout is an image's when an image op reads it, else tokens; the
  ``reshape`` is left out when the slice's spec shape is already the output's.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import attrs


def select(
    graph: Graph, node: Any, tensor: str, before: T.Layout, after: T.Layout
) -> list[dict[str, Any]] | None:
    """The ``slice`` (and ``reshape``) fields for ``node``, or None when it is no such
    ``Gather``."""
    if node.op_type != "Gather" or len(node.input) != 2 or len(node.output) != 1:
        return None
    data = graph.tensor(str(node.input[0]))
    if data in graph.weights or graph.data_inputs(node) != [data]:
        return None
    index = graph.constant(str(node.input[1]))
    if index is None or index.size != 1 or index.ndim > 1 or index.dtype.kind not in "iu":
        return None
    shape = graph.shape(tensor)
    axis = int(attrs(node).get("axis", 0))
    if not -len(shape) <= axis < len(shape):
        return None
    axis %= len(shape)
    start = int(index.reshape(-1)[0]) % shape[axis]
    dim = T.spec_axis(graph, tensor, axis, before)
    source = T.spec_shape(graph, tensor, before)
    target = T.spec_shape(graph, str(node.output[0]), after)
    if dim is None or source is None or target is None:
        return None
    parts: list[dict[str, Any]] = []
    if shape[axis] != 1:
        parts.append({"type": "slice", "axis": dim, "start": start, "end": start + 1})
    cut = tuple(1 if i == dim else d for i, d in enumerate(source))
    if cut != target:
        parts.append({"type": "reshape", "shape": list(target)})
    return parts
