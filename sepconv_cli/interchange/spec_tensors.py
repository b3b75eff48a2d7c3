"""Nodes that move a tensor's values (``Reshape``, ``Transpose``, ``Flatten``, ``Squeeze``,
``Unsqueeze``) or crop it (``Slice``) as the spec's ``reshape``, ``transpose`` and
``slice`` layers: what ``export-spec`` writes for the tokens of attention and crops.

Rules:

- The walk holds each data tensor in one of three layouts (:data:`Layout`). An *image*
  (ONNX's ``[N, C, *spatial]``) is the spec's channels-last ``[*spatial, C]``. A tensor of
  a channels-last region (the walk's ``last`` set: ConvNeXt's, an NHWC input) is its ONNX
  shape without the batch. *Tokens* (after a node that moves values and does not feed an
  image op: the walk's ``full`` set) are their whole ONNX shape, batch dim included:
  ``[1, T, C]``, and a leading dim that folds windows or patches (MobileViT's
  ``(4, 256, 64)``) or stacks q, k and v stays one dim of the spec's tensor, so every
  layer counts it whole, as the reader counts a node on its leading dim's items. Only a
  batch of 1 is held so (else the node is named).
- A node that moves values becomes a ``transpose`` (the ONNX perm; without the batch in a
  channels-last region, where it must stay first) when it is a ``Transpose`` that keeps
  the layout; otherwise a ``reshape`` to the output's spec shape (a reshape counts what a
  transpose counts: nothing), or no layer when the spec shape does not change.
- Its output is an image when what reads it, through nodes that keep its shape, is a
  convolution, a pool or a batch-norm (:data:`IMAGE_OPS`); else tokens.
- A ``Slice`` by constant starts, ends, axes and steps (steps ≥ 1), never along the batch,
  is a ``slice`` on the same dims in the spec's order, its bounds clamped as ONNX clamps
  them.
"""

from __future__ import annotations

from typing import Any, Literal

from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_nodes import arithmetic_operand
from sepconv_cli.interchange.spec_patterns import attrs

Fields = dict[str, Any]

IMAGE_OPS = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "LpPool",
        "BatchNormalization",
        "InstanceNormalization",
    }
)
"""Ops that read an ONNX image tensor ``[N, C, *spatial]``: their input is an image."""

MOVES = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"})
"""Ops that move a tensor's values and count nothing."""

_KEEPS_SHAPE = frozenset(
    {"Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Clip", "Erf", "LeakyRelu"}
    | {"Add", "Sub", "Mul", "Div", "Identity", "Dropout", "Cast"}
)


def batch_of(graph: Graph) -> int:
    """The graph input's batch (its first dim)."""
    return graph.shape(graph.input_name)[0]


Layout = Literal["image", "last", "full"]
"""How the spec holds a data tensor: ``image`` channels-last from ONNX's ``[N, C, ...]``,
``last`` without the batch (a channels-last region), ``full`` as its whole ONNX shape
(tokens, at batch 1)."""


def spec_shape(graph: Graph, tensor: str, layout: Layout) -> tuple[int, ...] | None:
    """``tensor``'s shape as the spec holds it in ``layout``, per sample; None when it
    cannot be held so (a batch other than 1 for tokens)."""
    shape = graph.shape(tensor)
    batch = batch_of(graph)
    if len(shape) < 2:
        return None
    if layout == "image":  # a leading dim of items (LeViT's (196, 256)) kept, at batch 1
        channels_last = (*shape[2:], shape[1])
        if shape[0] == batch:
            return channels_last
        return (shape[0], *channels_last) if batch == 1 else None
    if layout == "last":  # a leading dim of items kept, at batch 1, as an image's
        return tuple(shape[1:]) if shape[0] == batch else tuple(shape) if batch == 1 else None
    return tuple(shape) if batch == 1 else None


def reads_as_image(graph: Graph, tensor: str) -> bool:
    """Whether what reads ``tensor`` (through nodes that keep its shape) takes it as an
    image: a convolution, a pool, a batch-norm."""
    todo, seen = [graph.tensor(tensor)], 0
    while todo and seen < 32:
        current = todo.pop()
        for node in graph.readers(current):
            seen += 1
            if node.op_type in IMAGE_OPS:
                return True
            out = str(node.output[0]) if node.output else ""
            if node.op_type in _KEEPS_SHAPE and graph.shapes.get(out) == graph.shape(current):
                todo.append(graph.tensor(out))
    return False


def spec_axis(graph: Graph, tensor: str, axis: int, layout: Layout) -> int | None:
    """ONNX dim ``axis`` of ``tensor`` as a dim of its spec shape, or None for the batch."""
    rank = len(graph.shape(tensor))
    if not -rank <= axis < rank:
        return None
    axis %= rank
    if layout == "full":
        return axis if batch_of(graph) == 1 else None
    if layout == "image" and graph.shape(tensor)[0] != batch_of(graph):
        return 0 if axis == 0 else rank - 1 if axis == 1 else axis - 1  # items kept
    if layout == "last" and graph.shape(tensor)[0] != batch_of(graph):
        return axis  # items kept
    if axis == 0:
        return None
    if layout == "last":
        return axis - 1
    return rank - 2 if axis == 1 else axis - 2


def move(graph: Graph, node: Any, tensor: str, before: Layout, after: Layout) -> Fields | None:
    """A node that moves values as a ``transpose`` or ``reshape`` (``{}``: no layer, the
    spec shape is the same); None when either side has no spec shape."""
    source = spec_shape(graph, tensor, before)
    target = spec_shape(graph, str(node.output[0]), after)
    if source is None or target is None:
        return None
    if source == target:
        return {}
    if node.op_type == "Transpose" and before == after != "image":
        perm = [int(p) for p in attrs(node).get("perm", [])]
        if after == "full":
            return {"type": "transpose", "perm": perm}
        if perm and perm[0] == 0:
            return {"type": "transpose", "perm": [p - 1 for p in perm[1:]]}
    return {"type": "reshape", "shape": list(target)}


def crop(graph: Graph, node: Any, tensor: str, layout: Layout) -> Fields | None:
    """A ``Slice`` by constants as a ``slice`` layer, or None."""
    if node.op_type != "Slice" or len(graph.data_inputs(node)) != 1:
        return None
    shape = graph.shape(tensor)
    if len(node.input) < 3:
        return None
    values = [graph.constant(t) if t else None for t in list(node.input[1:5])]
    starts, ends = values[0], values[1]
    if starts is None or ends is None:
        return None
    count = starts.size
    axes = values[2] if len(values) > 2 and values[2] is not None else None
    steps = values[3] if len(values) > 3 and values[3] is not None else None
    axis_list = [int(a) for a in axes.reshape(-1)] if axes is not None else list(range(count))
    step_list = [int(s) for s in steps.reshape(-1)] if steps is not None else [1] * count
    if not (len(axis_list) == len(step_list) == count == ends.size) or min(step_list) < 1:
        return None
    fields: dict[str, list[int]] = {"axis": [], "start": [], "end": [], "step": []}
    for axis, start, end, step in zip(
        axis_list, starts.reshape(-1), ends.reshape(-1), step_list, strict=True
    ):
        size = shape[int(axis) % len(shape)]
        first, last, _ = slice(int(start), int(end), step).indices(size)
        if first == 0 and last >= size and step == 1:
            continue  # the whole dim (the batch's, as tf2onnx writes every dim)
        dim = spec_axis(graph, tensor, int(axis), layout)
        if dim is None:
            return None
        fields["axis"].append(dim)
        fields["start"].append(first)
        fields["end"].append(last)
        fields["step"].append(step)
    if not fields["axis"]:
        return {}
    if set(fields["step"]) == {1}:
        del fields["step"]
    return {"type": "slice", **{k: v[0] if len(v) == 1 else v for k, v in fields.items()}}


def computed_arithmetic(graph: Graph, node: Any, tensor: str) -> str | None:
    """``x + c`` (``−``, ``·``, ``/``) by a constant computed in the graph, not learned
    (an attention-bias table read through a ``Gather``: the reader counts no parameter for
    it), that keeps ``x``'s shape: an ``elementwise`` layer's ``operation``, or None."""
    found = arithmetic_operand(graph, node, tensor)
    if found is None:
        return None
    op, other = found
    if other in graph.weights:  # a learned or written value (folded tables are not)
        return None
    from sepconv_cli.interchange.spec_elementwise import made_by_products

    if made_by_products(graph, other):  # a conv of a computed grid: counted apart
        return None
    out = str(node.output[0])
    return op if graph.shapes.get(out) == graph.shape(tensor) else None
