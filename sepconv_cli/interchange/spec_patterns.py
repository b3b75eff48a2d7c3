"""ONNX nodes as spec layer fields: one function per pattern, each returning the layer's
fields (channels-last, as the spec writes them) or None when the nodes do not match.

Rules:

- ``Conv``: the kernel from the weight's shape; ``group == Cin > 1`` is ``depthwise``
  (``depth_multiplier`` when ``Cout = M·Cin``); a 1×1 ungrouped conv without padding is
  ``pointwise``; anything else ``conv`` (with ``groups``). A third input is ``bias: true``.
- Padding: ONNX's ``pads`` (all begins, then all ends) become an int when every side is
  equal, one int per dim when each dim is symmetric, else ``[[before, after], ...]``.
  ``auto_pad: SAME_UPPER`` always, and ``SAME_LOWER`` where the total pad is even, equal
  TensorFlow's rule and are written ``same``; an odd ``SAME_LOWER`` pad is written out.
- ``MaxPool``/``AveragePool``: ``pool`` with its stride always written (ONNX's default
  stride is 1, the spec's the kernel).
- Activations: ``Relu``, ``Clip(0, 6)`` (relu6), ``HardSigmoid``, ``HardSwish``,
  ``Sigmoid``, ``Gelu``, ``Tanh``, ``LeakyRelu`` (any slope), and ``x·Sigmoid(x)`` (silu)
  or ``x·HardSigmoid(x)`` (hardswish).
- Activations written out as several nodes are recognized by what they compute
  (:mod:`~sepconv_cli.interchange.spec_activations`).
- Channel shuffle: Reshape to ``[N, g, C/g, ...]`` → Transpose swapping axes 1 and 2 →
  Reshape back to the input's shape.
"""

from __future__ import annotations

import math
from typing import Any

from sepconv_cli.interchange.onnx_nodes import ACTIVATIONS, written_out_gelu
from sepconv_cli.interchange.spec_activations import written_out
from sepconv_cli.interchange.spec_graph import Graph

Fields = dict[str, Any]
GLOBAL_POOLS = {"GlobalAveragePool": "avg", "GlobalMaxPool": "max"}
REDUCE_POOLS = {"ReduceMean": "avg", "ReduceMax": "max"}
# ONNX activation ops → spec activations: the profile reader's own table
SIMPLE_ACTIVATIONS = ACTIVATIONS
GATES = {"Sigmoid": "silu", "HardSigmoid": "hardswish"}  # x·gate(x)


def attrs(node: Any) -> dict[str, Any]:
    """The node's attributes as Python values (ints, floats, lists, bytes)."""
    from sepconv_cli.interchange.optional import require_onnx

    helper = require_onnx().helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def layer_name(node: Any, index: int) -> str:
    """A layer's name from its node: torch's ``/features/features.1/conv/conv.0/Conv`` gives
    its module path ``features.1.conv.0``; a plain node name stays; an unnamed node is
    ``<op>_<index>``."""
    name = str(node.name).strip("/")
    parts = name.split("/")
    if len(parts) > 1 and parts[-1].split("_")[0] == node.op_type:
        # torch writes each scope relative to its parent: features/features.1/conv/conv.0
        path: list[str] = []
        for part in parts[:-1]:
            if path and part.startswith(path[-1] + "."):
                path[-1] = part
            else:
                path.append(part)
        return ".".join(path)
    return name or f"{node.op_type.lower()}_{index}"


def per_dim(values: list[int]) -> int | list[int]:
    """One int when every spatial dim has the same value, else the list."""
    return values[0] if len(set(values)) == 1 else list(values)


def padding(pads: list[int], n: int, a: Fields) -> Any:
    """The spec's padding for ONNX's ``pads`` / ``auto_pad``, or None for no padding."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto == "VALID":
        return None
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return "same"  # the caller checks SAME_LOWER's parity with same_is_tf
    begins, ends = pads[:n], pads[n:]
    if not any(pads):
        return None
    if begins == ends:
        return per_dim(begins)
    return [[b, e] for b, e in zip(begins, ends, strict=True)]


def same_pads(
    sizes: list[int], kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """The total SAME pad of each dim (ONNX's and TensorFlow's formula)."""
    return [
        max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
        for i, k, s, d in zip(sizes, kernel, strides, dilations, strict=True)
    ]


def _window(
    node: Any, graph: Graph, kernel: list[int], extra: list[int] | None = None
) -> tuple[Fields, list[str]]:
    """stride, padding and dilation fields shared by Conv and the pools, and caveats;
    ``extra`` pads (a zero Pad before the node, ONNX's order) add to the node's own."""
    a = attrs(node)
    n = len(kernel)
    strides = list(a.get("strides", [1] * n))
    dilations = list(a.get("dilations", [1] * n))
    pads = list(a.get("pads", [0] * (2 * n)))
    if extra is not None:
        pads = [p + e for p, e in zip(pads, extra, strict=True)]
    notes: list[str] = []
    pad = padding(pads, n, a)
    auto = a.get("auto_pad", b"NOTSET")
    if pad == "same" and auto == b"SAME_LOWER":
        sizes = list(graph.shape(node.input[0])[2:])
        totals = same_pads(sizes, kernel, strides, dilations)
        if any(t % 2 for t in totals):
            # SAME_LOWER puts the odd pixel before, TensorFlow's "same" after
            pad = [[t - t // 2, t // 2] for t in totals]
            notes.append("auto_pad SAME_LOWER: the odd pad goes before, written out")
    fields: Fields = {"stride": per_dim(strides)}
    if pad is not None:
        fields["padding"] = pad
    fields["dilation"] = per_dim(dilations)
    return fields, notes


def conv(node: Any, graph: Graph, extra: list[int] | None = None) -> tuple[Fields, list[str]]:
    """A Conv's layer fields (without name, batch_norm and activation) and its caveats;
    ``extra``: the spatial pads of a zero Pad folded into it."""
    a = attrs(node)
    weight = graph.shape(node.input[1])
    cin = graph.shape(node.input[0])[1]
    cout, kernel, groups = weight[0], list(weight[2:]), int(a.get("group", 1))
    window, notes = _window(node, graph, kernel, extra)
    bias = len(node.input) > 2 and bool(node.input[2])
    if groups == cin > 1 and cout % cin == 0:
        fields: Fields = {"type": "depthwise", "kernel": per_dim(kernel), **window}
        if cout // cin > 1:
            fields["depth_multiplier"] = cout // cin
    elif groups == 1 and set(kernel) == {1} and "padding" not in window:
        fields = {"type": "pointwise", "filters": cout, "stride": window["stride"]}
    else:
        fields = {"type": "conv", "kernel": per_dim(kernel), "filters": cout, **window}
        if groups > 1:
            fields["groups"] = groups
    if fields.get("dilation") == 1:
        del fields["dilation"]
    if fields.get("stride") == 1:
        del fields["stride"]
    if bias:
        fields["bias"] = True
    return fields, notes


def pool(node: Any, graph: Graph) -> tuple[Fields, list[str]] | None:
    """A MaxPool/AveragePool as a ``pool``; None for a dilated pool (no spec key)."""
    a = attrs(node)
    kernel = list(a["kernel_shape"])
    window, notes = _window(node, graph, kernel)
    if window.pop("dilation") != 1:
        return None
    mode = "max" if node.op_type == "MaxPool" else "avg"
    fields: Fields = {"type": "pool", "mode": mode, "kernel": per_dim(kernel), **window}
    if a.get("ceil_mode", 0):
        fields["ceil_mode"] = True
    if mode == "avg" and "padding" in window and not a.get("count_include_pad", 0):
        notes.append("count_include_pad 0: each average divides by its window's unpadded size")
    return fields, notes


def global_pool(node: Any, graph: Graph) -> Fields | None:
    """GlobalAverage/MaxPool, or ReduceMean/ReduceMax over every spatial axis."""
    if node.op_type in GLOBAL_POOLS:
        return {"type": "global_pool", "mode": GLOBAL_POOLS[node.op_type]}
    if node.op_type not in REDUCE_POOLS:
        return None
    rank = len(graph.shape(node.input[0]))
    axes = attrs(node).get("axes")
    if axes is None and len(node.input) > 1:
        value = graph.constant(node.input[1])
        axes = None if value is None else [int(v) for v in value.reshape(-1)]
    if axes is None or sorted(x % rank for x in axes) != list(range(2, rank)):
        return None
    return {"type": "global_pool", "mode": REDUCE_POOLS[node.op_type]}


def dense(node: Any, graph: Graph) -> tuple[Fields, list[Any]] | None:
    """Gemm, or MatMul (+ Add of a constant bias), on a 2-D input with a constant weight:
    ``dense`` and the nodes it covers."""
    data = graph.data_inputs(node)
    if len(data) != 1 or len(graph.shape(data[0])) != 2:
        return None
    weight = graph.shape(node.input[1])
    if node.op_type == "Gemm":
        a = attrs(node)
        if a.get("transA", 0) or graph.tensor(node.input[0]) != data[0]:
            return None
        units = weight[0] if a.get("transB", 0) else weight[1]
        bias = len(node.input) > 2 and bool(node.input[2])
        return {"type": "dense", "units": units, "bias": bias}, [node]
    if node.op_type != "MatMul" or graph.tensor(node.input[0]) != data[0] or len(weight) != 2:
        return None
    nodes = with_bias(node, graph, weight[1])
    return {"type": "dense", "units": weight[1], "bias": len(nodes) > 1}, nodes


def with_bias(node: Any, graph: Graph, units: int) -> list[Any]:
    """A MatMul and the ``Add`` of its constant bias of ``units`` values that alone reads it
    (a Linear), or the MatMul alone."""
    readers = graph.readers(node.output[0])
    if len(readers) == 1 and readers[0].op_type == "Add" and node.output[0] not in graph.outputs:
        add = readers[0]
        other = [t for t in add.input if graph.tensor(t) != graph.tensor(node.output[0])]
        value = graph.constant(other[0]) if len(other) == 1 else None
        if value is not None and value.size == units:
            return [node, add]
    return [node]


def activation(graph: Graph, tensor: str) -> tuple[str, list[Any], str] | None:
    """The activation applied to ``tensor`` alone: (spec name, nodes, output tensor). Asked
    again and again by both walks, and the graph does not change: kept once found."""
    key = ("activation", graph.tensor(tensor))
    if key not in graph.memo:
        graph.memo[key] = _activation(graph, tensor)
    found: tuple[str, list[Any], str] | None = graph.memo[key]
    return found


def _activation(graph: Graph, tensor: str) -> tuple[str, list[Any], str] | None:
    if graph.tensor(tensor) in graph.outputs:
        return None
    readers = graph.readers(tensor)
    if len(readers) == 1:
        name = node_activation(graph, readers[0])
        if name is not None:
            return name, [readers[0]], readers[0].output[0]
    if len(readers) == 2:
        gelu = _written_out_gelu(graph, tensor)
        if gelu is not None:
            return "gelu", gelu, str(gelu[-1].output[0])
        gate = next((n for n in readers if n.op_type in GATES), None)
        mul = next((n for n in readers if n.op_type == "Mul"), None)
        if (
            gate is not None
            and mul is not None
            and len(graph.readers(gate.output[0])) == 1
            and sorted(graph.data_inputs(mul)) == sorted([graph.tensor(tensor), gate.output[0]])
        ):
            return GATES[gate.op_type], [gate, mul], str(mul.output[0])
    return written_out(graph, tensor)


def node_activation(graph: Graph, node: Any) -> str | None:
    """The spec activation one node computes on its one data input (``Relu``, ``Clip(0,
    6)``, ...), or None."""
    name = SIMPLE_ACTIVATIONS.get(node.op_type)
    if node.op_type == "Clip" and _clip_range(node, graph) == (0.0, 6.0):
        name = "relu6"
    return name if name is not None and len(graph.data_inputs(node)) == 1 else None


def is_written_out_gelu(graph: Graph, tensor: str) -> bool:
    """Whether a written-out GELU reads ``tensor`` (the profile reader joins it to its row)."""
    return _written_out_gelu(graph, tensor) is not None


def _written_out_gelu(graph: Graph, tensor: str) -> list[Any] | None:
    """The GELU exporters write out below opset 20 (onnx_nodes.written_out_gelu) on
    ``tensor``: its nodes in order, or None."""

    def scalar(name: str) -> float | None:
        value = graph.constant(name)
        # float() of a 1-element array of ndim >= 1 is an error in NumPy 2.4: read the element
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def same(a: str, b: str) -> bool:
        return graph.tensor(a) == graph.tensor(b)

    return written_out_gelu(graph.tensor(tensor), graph.readers, scalar, same)


def channel_transpose(graph: Graph, node: Any) -> str | None:
    """``"last"`` for a Transpose that moves the channels last (NCHW → NHWC), ``"first"``
    for the one that moves them back, else None: a layout change, not a layer (the spec's
    shapes are channels-last throughout)."""
    if node.op_type != "Transpose":
        return None
    perm = list(attrs(node).get("perm", []))
    rank = len(perm)
    if rank < 3:
        return None
    if perm == [0, *range(2, rank), 1]:
        return "last"
    if perm == [0, rank - 1, *range(1, rank - 1)]:
        return "first"
    return None


def layer_norm(node: Any, graph: Graph) -> Fields | None:
    """A ``LayerNormalization`` over the last dim with a learned scale (and bias): the
    spec's ``layer_norm``, when its input is channels-last (the caller knows)."""
    if node.op_type != "LayerNormalization" or len(graph.data_inputs(node)) != 1:
        return None
    rank = len(graph.shape(node.input[0]))
    if int(attrs(node).get("axis", -1)) not in (-1, rank - 1):
        return None
    if len(node.input) < 2 or graph.constant(node.input[1]) is None:
        return None
    bias = len(node.input) > 2 and bool(node.input[2])
    return {"type": "layer_norm"} if bias else {"type": "layer_norm", "bias": False}


def token_linear(node: Any, graph: Graph) -> tuple[Fields, list[Any]] | None:
    """A MatMul by a ``(C, N)`` weight (+ the Add of its bias) on a channels-last tensor of
    rank 3 or more: a Linear on tokens, the spec's ``pointwise`` of N filters."""
    data = graph.data_inputs(node)
    if node.op_type != "MatMul" or len(data) != 1 or graph.tensor(node.input[0]) != data[0]:
        return None
    weight = graph.shape(node.input[1])
    if len(weight) != 2 or len(graph.shape(data[0])) < 3:
        return None
    nodes = with_bias(node, graph, weight[1])
    return {"type": "pointwise", "filters": weight[1], "bias": len(nodes) > 1}, nodes


def layer_scale(node: Any, graph: Graph, channels: int) -> Fields | None:
    """A ``Mul`` by a learned tensor of one value per channel: ``layer_scale``."""
    if node.op_type != "Mul" or len(graph.data_inputs(node)) != 1:
        return None
    values = [graph.constant(t) for t in node.input]
    learned = [v for v in values if v is not None]
    if len(learned) != 1 or learned[0].size != channels or channels < 2:
        return None
    return {"type": "layer_scale"}


def _clip_range(node: Any, graph: Graph) -> tuple[float, float] | None:
    a = attrs(node)
    bounds = []
    for position, key in ((1, "min"), (2, "max")):
        value = None
        if len(node.input) > position and node.input[position]:
            constant = graph.constant(node.input[position])
            value = None if constant is None else float(constant.reshape(-1)[0])
        elif key in a:
            value = float(a[key])
        if value is None:
            return None
        bounds.append(value)
    return bounds[0], bounds[1]


def shuffle(graph: Graph, node: Any) -> tuple[Fields, list[Any]] | None:
    """Reshape → Transpose → Reshape as ShuffleNet's channel shuffle: ``shuffle`` and its
    three nodes, or None."""
    if node.op_type != "Reshape":
        return None
    source = graph.shape(graph.data_inputs(node)[0])
    split = graph.shape(node.output[0])
    transpose = graph.readers(node.output[0])
    if len(source) < 3 or len(split) != len(source) + 1 or len(transpose) != 1:
        return None
    groups = split[1]
    if split[0] != source[0] or split[1] * split[2] != source[1] or split[3:] != source[2:]:
        return None
    perm = list(attrs(transpose[0]).get("perm", []))
    if transpose[0].op_type != "Transpose" or perm != [0, 2, 1, *range(3, len(split))]:
        return None
    back = graph.readers(transpose[0].output[0])
    if len(back) != 1 or back[0].op_type != "Reshape":
        return None
    if graph.shape(back[0].output[0]) != source:
        return None
    return {"type": "shuffle", "groups": groups}, [node, transpose[0], back[0]]


def is_flatten(graph: Graph, node: Any) -> bool:
    """Flatten, Reshape or Squeeze to ``[N, rest]``: no cost, and the spec's ``dense``
    flattens its input itself. Or a Reshape or Unsqueeze of ``[N, C]`` to ``[N, C, 1, …,
    1]`` (Keras' squeeze-and-excite after its pool): the spec reads C values as a 1×1 map
    where a layer needs one."""
    if node.op_type not in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
        return False
    data = graph.data_inputs(node)
    if len(data) != 1:
        return False
    source, target = graph.shape(data[0]), graph.shape(node.output[0])
    if len(source) == 2 and len(target) > 2 and target[:2] == source:
        return set(target[2:]) == {1}
    return len(target) == 2 and target[0] == source[0] and math.prod(source) == math.prod(target)


def channel_slices(graph: Graph, tensor: str, readers: list[Any]) -> list[Any] | None:
    """Readers that are all ``Slice`` nodes cutting ``tensor``'s channels into consecutive
    parts from first to last (torch's ``chunk``): them in channel order, else None."""
    if len(readers) < 2 or any(n.op_type != "Slice" for n in readers):
        return None
    channels = graph.shape(tensor)[1]
    parts = []
    for node in readers:
        values = [graph.constant(t) if t else None for t in list(node.input[1:5])]
        bounds = [v for v in values[:3] if v is not None and v.size == 1]
        if len(bounds) != 3:
            return None
        starts, ends, axes = (int(v.reshape(-1)[0]) for v in bounds)
        steps = values[3] if len(values) > 3 else None
        if axes % len(graph.shape(tensor)) != 1 or (steps is not None and steps.size != 1):
            return None
        if steps is not None and int(steps.reshape(-1)[0]) != 1:
            return None
        parts.append((max(0, starts), min(channels, ends), node))
    parts.sort(key=lambda p: p[0])
    edges = [0, *(e for _, e, _ in parts)]
    if [s for s, _, _ in parts] != edges[:-1] or edges[-1] != channels:
        return None
    return [n for _, _, n in parts]
