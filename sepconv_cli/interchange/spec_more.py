"""Reductions, transposed convolutions, ``DepthToSpace`` and channel pads as spec layers,
for ``export-spec`` (the layers: :mod:`sepconv_cli.counting.more_layers`; issue 21 item 5).

Rules (each node is read in the layout the walk holds its input in,
:mod:`~sepconv_cli.interchange.spec_tensors`: an ONNX dim is a spec dim by
:func:`~sepconv_cli.interchange.spec_tensors.spec_axis`; a node on the batch dim is none):

- A ``ReduceSum``, ``ReduceMean``, ``ReduceL2``, ``ReduceMax``... with constant axes (an
  attribute, or an input) is a ``reduce``: ``reduction`` its function, ``axis`` its dims in
  the spec's order, ``keepdims: false`` when it drops them, which is written only where
  the spec holds the tensor as its ONNX shape (tokens, a channels-last region: the dims
  left keep their order); an image's reduction keeps its dims. No axes: every dim, the
  batch's too, so none.
- A ``ConvTranspose`` on an image with a weight the file holds is a ``conv_transpose``: its
  weight's kernel, ``filters`` (``group`` × the weight's second dim), ``stride``,
  ``dilation``, ``groups``, ``output_padding``, ``bias``; ``padding`` its ``pads``,
  ``same`` for ``auto_pad`` SAME, or the pads an ``output_shape`` implies (the extra
  before). Written only when the layer gives the node's output shape.
- A ``DepthToSpace`` of an image is a ``depth_to_space`` (``block_size``; ``order: crd``
  for its mode CRD).
- A ``Reshape`` to a flat vector read only by a ``Gather`` of every value in order (the
  input's shape back: torch.export's ``as_strided``) is no layer.
- A ``Pad`` by constant amounts ≥ 0 (any mode and fill: it costs nothing) of the
  channels, and of the spatial dims or not, is a ``pad`` with ``channels: [before,
  after]`` (MediaPipe's ``channel_padding``); one of the spatial dims only is the walk's
  own ``pad``.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.counting.more_layers import transposed_size
from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_patterns import attrs, padding, per_dim
from sepconv_cli.spec.more_fields import REDUCTIONS

Fields = dict[str, Any]
_REDUCE_OPS = {op: name for name, op in REDUCTIONS.items()}


def _text(value: Any, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _one(values: list[int]) -> int | list[int]:
    return values[0] if len(values) == 1 else values


def reduce_fields(graph: Graph, node: Any, tensor: str, layout: T.Layout) -> Fields | None:
    """A reduction node as a ``reduce``'s fields, or None."""
    reduction = _REDUCE_OPS.get(node.op_type)
    if reduction is None or len(graph.data_inputs(node)) != 1:
        return None
    a = attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = graph.constant(node.input[1])
        if value is None:
            return None
        axes = [int(v) for v in value.reshape(-1)]
    if not axes:  # every dim (or none, with noop_with_empty_axes): the batch's too
        return None
    keep = bool(a.get("keepdims", 1))
    if not keep and layout == "image":
        return None  # the dims left of an image would not be channels-last
    dims = [T.spec_axis(graph, tensor, int(axis), layout) for axis in axes]
    if any(d is None for d in dims):
        return None
    fields: Fields = {"type": "reduce", "reduction": reduction}
    fields["axis"] = _one(sorted(int(d) for d in dims if d is not None))
    if not keep:
        fields["keepdims"] = False
    return fields


def conv_transpose_fields(graph: Graph, node: Any, tensor: str) -> Fields | None:
    """A ``ConvTranspose`` as a ``conv_transpose``'s fields, or None."""
    if node.op_type != "ConvTranspose" or len(node.input) < 2:
        return None
    if node.input[1] not in graph.constants or str(node.output[0]) not in graph.shapes:
        return None  # a weight the file holds, an output of a known shape
    x, w, out = graph.shape(tensor), graph.shape(node.input[1]), graph.shape(node.output[0])
    a = attrs(node)
    rank = len(x) - 2
    if rank < 1 or len(w) != rank + 2 or len(out) != len(x):
        return None
    groups = int(a.get("group", 1))
    kernel = [int(k) for k in w[2:]]
    stride = [int(s) for s in a.get("strides", [1] * rank)]
    dilation = [int(d) for d in a.get("dilations", [1] * rank)]
    extra = [int(e) for e in a.get("output_padding", [0] * rank)]
    auto = _text(a.get("auto_pad"), "NOTSET")
    pads = [int(p) for p in a.get("pads", [0] * 2 * rank)]
    if "output_shape" in a and not auto.startswith("SAME"):
        sizes = list(zip(x[2:], kernel, stride, dilation, extra, strict=True))
        totals = [transposed_size(*s, (0, 0)) - o for s, o in zip(sizes, out[2:], strict=True)]
        pads = [t - t // 2 for t in totals] + [t // 2 for t in totals]
    fields: Fields = {"type": "conv_transpose", "kernel": per_dim(kernel)}
    fields["filters"] = int(w[1]) * groups
    if set(stride) != {1}:
        fields["stride"] = per_dim(stride)
    pad = "same" if auto.startswith("SAME") else padding(pads, rank, {"auto_pad": auto})
    if pad is not None:
        fields["padding"] = pad
    if set(dilation) != {1}:
        fields["dilation"] = per_dim(dilation)
    if any(extra):
        fields["output_padding"] = per_dim(extra)
    if groups > 1:
        fields["groups"] = groups
    if len(node.input) > 2 and node.input[2]:
        fields["bias"] = True
    return fields if _transposed_out(x, fields, rank) == list(out[2:]) else None


def _transposed_out(x: tuple[int, ...], fields: Fields, rank: int) -> list[int]:
    """The spatial output the written fields give (the spec's rule), to check them."""

    def dims(key: str, default: int) -> list[int]:
        value = fields.get(key, default)
        return list(value) if isinstance(value, list) else [int(value)] * rank

    pad = fields.get("padding", 0)
    stride = dims("stride", 1)
    if pad == "same":
        return [n * s for n, s in zip(x[2:], stride, strict=True)]
    if isinstance(pad, int):
        sides = [(pad, pad)] * rank
    elif isinstance(pad, list) and pad and isinstance(pad[0], list):
        sides = [(int(b), int(e)) for b, e in pad]
    else:
        sides = [(int(p), int(p)) for p in pad]
    kernel, dilation, extra = dims("kernel", 1), dims("dilation", 1), dims("output_padding", 0)
    return [
        transposed_size(*args)
        for args in zip(x[2:], kernel, stride, dilation, extra, sides, strict=True)
    ]


def depth_to_space_fields(graph: Graph, node: Any) -> Fields | None:
    """A ``DepthToSpace`` as a ``depth_to_space``'s fields, or None."""
    if node.op_type != "DepthToSpace":
        return None
    a = attrs(node)
    fields: Fields = {"type": "depth_to_space", "block_size": int(a.get("blocksize", 1))}
    if _text(a.get("mode"), "DCR").upper() == "CRD":
        fields["order"] = "crd"
    return fields


def channel_pad_fields(graph: Graph, node: Any, tensor: str, layout: T.Layout) -> Fields | None:
    """A ``Pad`` of the channels (and the spatial dims or not) as a ``pad``'s fields."""
    if node.op_type != "Pad" or len(graph.data_inputs(node)) != 1:
        return None
    if len(node.input) > 3 and node.input[3]:  # axes (opset 18): not read here
        return None
    value = graph.constant(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    flat = [int(p) for p in value.reshape(-1)] if value is not None else None
    flat = flat if flat is not None else [int(p) for p in attrs(node).get("pads", [])]
    shape = T.spec_shape(graph, tensor, layout)
    onnx_rank = len(graph.shape(tensor))
    if shape is None or len(flat) != 2 * onnx_rank or min(flat, default=0) < 0:
        return None
    spatial = [[0, 0] for _ in shape[:-1]]
    channels = [0, 0]
    for axis in range(onnx_rank):
        sides = [flat[axis], flat[axis + onnx_rank]]
        if not any(sides):
            continue
        dim = T.spec_axis(graph, tensor, axis, layout)
        if dim is None:
            return None
        if dim == len(shape) - 1:
            channels = sides
        else:
            spatial[dim] = sides
    if not any(channels):
        return None  # the spatial dims only: the walk's own pad
    fields: Fields = {"type": "pad", "channels": channels}
    if any(any(sides) for sides in spatial):
        begins, ends = [s[0] for s in spatial], [s[1] for s in spatial]
        fields["padding"] = padding(begins + ends, len(spatial), {})
    return fields


def strided_identity(graph: Graph, node: Any, tensor: str) -> list[Any] | None:
    """A ``Reshape`` to a flat vector (no batch dim, which the spec cannot hold) read only
    by a ``Gather`` on axis 0 whose constant indices are ``0, 1, …`` in the input's shape:
    torch.export's ``as_strided`` of a whole tensor (torchvision's ConvNeXt head), its
    input given back. The two nodes (no layer), or None."""
    if node.op_type != "Reshape" or str(node.output[0]) not in graph.shapes:
        return None
    shape, flat = graph.shape(tensor), graph.shape(node.output[0])
    readers = graph.readers(node.output[0])
    if len(flat) != 1 or len(readers) != 1 or readers[0].op_type != "Gather":
        return None
    gather = readers[0]
    indices = graph.constant(gather.input[1]) if len(gather.input) > 1 else None
    if int(attrs(gather).get("axis", 0)) != 0 or indices is None:
        return None
    if tuple(indices.shape) != tuple(shape) or graph.shapes.get(gather.output[0]) != shape:
        return None
    if [int(v) for v in indices.reshape(-1)] != list(range(indices.size)):
        return None
    return [node, gather]


def more_step(walker: Any, node: Any, tensor: str, name: str, items: list[Any]) -> str | None:
    """``node`` as a ``reduce``, ``conv_transpose``, ``depth_to_space`` or channel
    ``pad``: appended to ``items``; the tensor after it (its activation taken), or None
    when it is none of them."""
    from sepconv_cli.interchange.spec_items import Layer

    graph: Graph = walker.graph
    layout: T.Layout = walker.layout(tensor)
    same = strided_identity(graph, node, tensor)
    if same is not None:  # no layer: the values come back as they were
        items.append(Layer({}, same))
        walker.hold(str(same[-1].output[0]), layout)
        return str(same[-1].output[0])
    fields: Fields | None = None
    if node.op_type in _REDUCE_OPS:
        fields = reduce_fields(graph, node, tensor, layout)
    elif layout == "image" and node.op_type == "ConvTranspose":
        fields = conv_transpose_fields(graph, node, tensor)
    elif layout == "image" and len(graph.shape(tensor)) == 4:
        fields = depth_to_space_fields(graph, node)
    if fields is None and node.op_type == "Pad":
        fields = channel_pad_fields(graph, node, tensor, layout)
    if fields is None:
        return None
    if T.spec_shape(graph, str(node.output[0]), layout) is None:
        return None
    result: str = walker.node_layer(items, node, name, fields, layout)
    return result
