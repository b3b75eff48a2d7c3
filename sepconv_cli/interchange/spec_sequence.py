"""``Resize`` and recurrent nodes (``LSTM``, ``GRU``, ``RNN``) as spec layers, for
``export-spec`` (the layers: :mod:`sepconv_cli.counting.sequence_layers`).

Rules:

- A ``Resize`` or ``Upsample`` of the spatial dims of an image ``[N, C, *spatial]``
  (batch and channels kept) is a ``resize``: ``scale`` when every output dim is a whole
  multiple of its input (one int when all are alike), else ``output_size``;
  ``interpolation`` is its mode (``nearest``, ``linear``, ``cubic``; nearest unwritten).
- A recurrent node is a layer when the spec can hold its sequence as ``[steps,
  features]``: its ``X`` (``[T, N, I]``, ONNX's default ``layout`` 0) made by a
  ``Transpose`` (perm ``[2, 0, 1]``) of an ``[N, I, T]`` tensor (the spec's ``[T, I]``),
  and its ``Y`` read only by a ``Transpose`` (perm ``[2, 1, 3, 0]``) then a ``Reshape`` to
  ``[N, directions · H, T]`` (the spec's ``[T, directions · H]``): what ``sepconv export``
  writes. ``hidden`` is its ``hidden_size``, ``direction`` its direction (forward
  unwritten), ``bias: false`` without a ``B``. An initial state (``initial_h``, an LSTM's
  ``initial_c``) made the same way, by a ``Transpose`` (perm ``[2, 0, 1]``) of an ``[N, H,
  directions]`` tensor, is read by name (``from``); ``Y_h`` and ``Y_c`` must be unread
  (the spec's layer gives its sequence only). Anything else (a ``layout`` 1, a sequence
  length, peepholes, states read on, weights the graph computes, which the ONNX reader
  counts as no parameters) is not expressed, named.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import attrs

Fields = dict[str, Any]
RECURRENT_OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
_IN_PERM = [2, 0, 1]  # [N, C, T] -> [T, N, C]
_OUT_PERM = [2, 1, 3, 0]  # [T, dirs, N, H] -> [N, dirs, H, T]


def resize(graph: Graph, node: Any, tensor: str) -> Fields | None:
    """A ``Resize``/``Upsample`` of an image's spatial dims as a ``resize``'s fields."""
    if node.op_type not in ("Resize", "Upsample") or len(graph.data_inputs(node)) != 1:
        return None
    out = str(node.output[0])
    if out not in graph.shapes:
        return None
    before, after = graph.shape(tensor), graph.shape(out)
    if len(before) < 3 or len(before) != len(after) or before[:2] != after[:2]:
        return None
    mode = attrs(node).get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode not in ("nearest", "linear", "cubic"):
        return None
    pairs = list(zip(before[2:], after[2:], strict=True))
    fields: Fields = {"type": "resize"}
    if all(b % a == 0 for a, b in pairs):
        scales = [b // a for a, b in pairs]
        fields["scale"] = scales[0] if len(set(scales)) == 1 else scales
    else:
        sizes = [b for _, b in pairs]
        fields["output_size"] = sizes[0] if len(set(sizes)) == 1 else sizes
    if mode != "nearest":
        fields["interpolation"] = mode
    return fields


def _transposed(graph: Graph, tensor: str, perm: list[int]) -> Any | None:
    """The ``Transpose`` by ``perm`` that makes ``tensor``, or None."""
    node = graph.producer.get(graph.tensor(tensor))
    if node is None or node.op_type != "Transpose" or list(attrs(node).get("perm", [])) != perm:
        return None
    return node


def sequence_layout(graph: Graph, node: Any) -> bool:
    """``node`` is the ``Transpose`` (perm ``[2, 0, 1]``) that makes a recurrent node's
    sequence or state from the spec's ``[T, C]``: layout, no layer."""
    if node.op_type != "Transpose" or list(attrs(node).get("perm", [])) != _IN_PERM:
        return False
    readers = graph.readers(node.output[0])
    return bool(readers) and all(
        r.op_type in RECURRENT_OPS
        and any(graph.tensor(t) == graph.tensor(node.output[0]) for t in (r.input[0], *_states(r)))
        for r in readers
    )


def _states(node: Any) -> list[str]:
    """A recurrent node's initial state inputs (``initial_h``, an LSTM's ``initial_c``)."""
    positions = (5, 6) if node.op_type == "LSTM" else (5,)
    return [str(node.input[i]) for i in positions if i < len(node.input) and node.input[i]]


def recurrent_fields(graph: Graph, node: Any) -> Fields | None:
    """A recurrent node's layer fields (``type``, ``hidden``, ``direction`` when not
    forward, ``bias: false`` without a ``B``) when the node itself is one the spec writes:
    ONNX's default ``layout`` 0, no sequence length, no peepholes, and ``W``, ``R`` and ``B``
    learned as the ONNX reader sees them (computed ones count no parameter); else None.
    Where its sequence comes from and goes is the caller's rule."""
    kind = RECURRENT_OPS.get(node.op_type)
    if kind is None:
        return None
    a = attrs(node)
    inputs = list(node.input) + [""] * 8
    if int(a.get("layout", 0)) != 0 or inputs[4] or (kind == "lstm" and inputs[7]):
        return None
    if not inputs[2] or any(inputs[i] not in graph.weights for i in (1, 2, 3) if inputs[i]):
        return None
    fields: Fields = {"type": kind, "hidden": int(a["hidden_size"])}
    direction = a.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction != "forward":
        fields["direction"] = direction
    if not inputs[3]:
        fields["bias"] = False
    return fields


def recurrent(graph: Graph, node: Any) -> tuple[Fields, list[Any], list[str], str] | None:
    """A recurrent node as a layer (module rules): (its fields, the nodes it stands for,
    the tensors it reads in the spec's order: the sequence then the states, the tensor
    after it), or None."""
    fields = recurrent_fields(graph, node)
    if fields is None:
        return None
    entry = _transposed(graph, node.input[0], _IN_PERM)
    states = [_transposed(graph, s, _IN_PERM) for s in _states(node)]
    if entry is None or any(s is None for s in states):
        return None
    if any(o and graph.readers(o) for o in node.output[1:]):
        return None  # Y_h, Y_c read on: the spec's layer gives its sequence only
    readers = graph.readers(node.output[0])
    if len(readers) != 1 or readers[0].op_type != "Transpose":
        return None
    turn = readers[0]
    if list(attrs(turn).get("perm", [])) != _OUT_PERM:
        return None
    shape = graph.readers(turn.output[0])
    if len(shape) != 1 or shape[0].op_type != "Reshape":
        return None
    reshape = shape[0]
    t, n, _ = graph.shape(node.input[0])
    dirs = graph.shape(node.output[0])[1]
    if graph.shapes.get(str(reshape.output[0])) != (n, dirs * fields["hidden"], t):
        return None
    reads = [str(entry.input[0])] + [str(s.input[0]) for s in states if s is not None]
    nodes = [node, turn, reshape]
    return fields, nodes, reads, str(reshape.output[0])


def sequence_step(walker: Any, node: Any, tensor: str, name: str, items: list[Any]) -> str | None:
    """``node`` as a ``resize``, a recurrent layer reading its sequence alone, or the
    layout ``Transpose`` before one (no layer): appended to ``items``; the tensor after
    it, or None when it is none of them."""
    from sepconv_cli.interchange.spec_items import Layer

    graph: Graph = walker.graph
    if sequence_layout(graph, node):
        items.append(Layer({}, [node]))
        return str(node.output[0])
    fields = resize(graph, node, tensor)
    if fields is not None:
        items.append(Layer({"type": "resize", "name": name, **fields}, [node]))
        out: str = walker._activation(items, str(node.output[0]))
        return out
    found = recurrent(graph, node)
    if found is None or len(found[2]) > 1:
        return None
    fields, nodes, _, after = found
    items.append(Layer({"type": fields.pop("type"), "name": name, **fields}, nodes))
    out = walker._activation(items, after)
    return out
