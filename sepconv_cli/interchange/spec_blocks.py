"""What follows a convolution, and the squeeze-and-excite: ONNX nodes as spec fields.

Rules:

- A tensor's *per-channel constant* is a constant of one value per channel that broadcasts
  along the channels only (``(C, 1, 1)``, ``(1, C, 1, 1)``), for a channels-first tensor.
- After a ``Conv`` without a bias, the ``Add`` of a per-channel constant that alone reads
  its output is its bias (``bias: true``: paddle2onnx writes a bias so).
- A ``BatchNormalization``, or a ``Mul`` by a per-channel constant that alone feeds an
  ``Add`` of one (tf2onnx writes a batch-norm it did not fuse so; or the ``Add`` first, as
  Keras' Normalization folded), is a batch-norm: after a conv ``batch_norm: true``,
  elsewhere a ``batch_norm`` layer. Two parameters per channel either way, as the ONNX
  reader counts the two initializers.
- Squeeze-and-excite: a global average pool (or ReduceMean over the spatial dims) → 1×1
  Conv with its bias → activation → 1×1 Conv with its bias → Sigmoid or hard-sigmoid, in
  any written form → Mul with the input. ``se_channels`` is the first conv's output
  channels. Without a bias on either conv, or with a norm between, it is not one: the walk
  writes it as a ``branches`` block with ``merge: mul`` instead, which counts it exactly.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import Fields, activation, attrs, global_pool

GATE_ACTIVATIONS = ("sigmoid", "hardsigmoid")


def per_channel(graph: Graph, node: Any, tensor: str, last: bool = False) -> Any | None:
    """The constant operand of ``node`` (a binary op on ``tensor``) when it holds one value
    per channel of ``tensor`` (channels-first, or channels-last with ``last``), broadcast
    along the channels only."""
    others = [t for t in node.input if t and graph.tensor(t) != graph.tensor(tensor)]
    if len(node.input) != 2 or len(others) != 1:
        return None
    value = graph.constant(others[0])
    rank = len(graph.shape(tensor))
    if value is None or rank < 2 or value.ndim > rank:
        return None
    dims = [1] * (rank - value.ndim) + list(value.shape)
    axis = rank - 1 if last else 1
    channels = graph.shape(tensor)[axis]
    if channels < 2 or dims[axis] != channels:
        return None
    return value if all(d == 1 for i, d in enumerate(dims) if i != axis) else None


def _sole(graph: Graph, tensor: str, op_type: str) -> Any | None:
    readers = graph.readers(tensor)
    if len(readers) == 1 and readers[0].op_type == op_type and tensor not in graph.outputs:
        return readers[0]
    return None


def bias_add(graph: Graph, tensor: str) -> Any | None:
    """The ``Add`` of a per-channel constant that alone reads ``tensor``, or None."""
    add = _sole(graph, tensor, "Add")
    return add if add is not None and per_channel(graph, add, tensor) is not None else None


def batch_norm(graph: Graph, tensor: str) -> list[Any] | None:
    """The batch-norm that alone reads ``tensor`` (:func:`batch_norm_at`), or None."""
    readers = graph.readers(tensor)
    if len(readers) != 1 or tensor in graph.outputs:
        return None
    return batch_norm_at(graph, readers[0], tensor)


def batch_norm_at(graph: Graph, node: Any, tensor: str, last: bool = False) -> list[Any] | None:
    """``node`` on ``tensor`` as a batch-norm: a ``BatchNormalization`` (its extra outputs
    unread), or an unfused one, a per-channel affine: a ``Mul`` then the ``Add`` that alone
    reads it, or the ``Add`` then the ``Mul`` (Keras' Normalization folded by tf2onnx), each
    by a per-channel constant (``last``: of a channels-last ``tensor``); its nodes, or
    None."""
    if node.op_type == "BatchNormalization" and len(graph.data_inputs(node)) == 1:
        if any(o and graph.readers(o) for o in node.output[1:]) or last:
            return None
        return [node]
    pair = {"Mul": "Add", "Add": "Mul"}.get(node.op_type)
    if pair is None or per_channel(graph, node, tensor, last) is None:
        return None
    second = _sole(graph, str(node.output[0]), pair)
    if second is None or per_channel(graph, second, str(node.output[0]), last) is None:
        return None
    return [node, second]


def conv_tail(graph: Graph, conv: Any) -> tuple[Fields, list[Any], str]:
    """The fields and nodes a Conv takes from what alone follows it (its bias ``Add``, its
    batch-norm) and the tensor after them; the activation is the caller's."""
    out = str(conv.output[0])
    fields: Fields = {}
    nodes: list[Any] = []
    has_bias = len(conv.input) > 2 and bool(conv.input[2])
    add = None if has_bias else bias_add(graph, out)
    if add is not None:
        fields["bias"] = True
        nodes.append(add)
        out = str(add.output[0])
    norm = batch_norm(graph, out)
    if norm is not None:
        fields["batch_norm"] = True
        nodes.extend(norm)
        out = str(norm[-1].output[0])
    return fields, nodes, out


def squeeze_excite(graph: Graph, tensor: str) -> tuple[Fields, list[Any]] | None:
    """A squeeze-and-excite on ``tensor`` (module rules): its fields and nodes, or None."""
    readers = graph.readers(tensor)
    if len(readers) != 2:
        return None
    pool = next((n for n in readers if global_pool(n, graph) is not None), None)
    mul = next((n for n in readers if n.op_type == "Mul"), None)
    if (
        pool is None
        or mul is None
        or global_pool(pool, graph) != {"type": "global_pool", "mode": "avg"}
    ):
        return None
    chain = [pool]
    current = str(pool.output[0])
    squeeze = 0
    for step in range(2):
        convs = graph.readers(current)
        if len(convs) != 1 or convs[0].op_type != "Conv" or current in graph.outputs:
            return None
        conv = convs[0]
        weight = graph.shape(conv.input[1])
        if len(graph.data_inputs(conv)) != 1 or int(attrs(conv).get("group", 1)) != 1:
            return None
        if set(weight[2:]) != {1}:
            return None
        fields, nodes, current = conv_tail(graph, conv)
        has_bias = len(conv.input) > 2 and bool(conv.input[2])
        if "batch_norm" in fields or not (has_bias or "bias" in fields):
            return None
        chain.extend([conv, *nodes])
        squeeze = squeeze or weight[0]
        act = activation(graph, current)
        if act is None or (step == 1 and act[0] not in GATE_ACTIVATIONS):
            return None
        chain.extend(act[1])
        current = act[2]
    if sorted(graph.data_inputs(mul)) != sorted([graph.tensor(tensor), graph.tensor(current)]):
        return None
    if len(graph.readers(current)) != 1 or current in graph.outputs:
        return None
    chain.append(mul)
    return {"type": "squeeze_excite", "se_channels": squeeze}, chain
