"""The layers of issue 21 item 5 as ONNX nodes (``sepconv export``), written so that the
ONNX reader counts them as the spec does and ``export-spec`` reads them back
(:mod:`~sepconv_cli.interchange.spec_more`). The writer's layout
(:mod:`~sepconv_cli.interchange.onnx_build`): a spec shape ``[d0, …, C]`` is the ONNX
tensor ``[N, C, d0, …]``.

- ``reduce``: one ``ReduceSum``/``ReduceMean``/``ReduceL2``/... over the mapped axes with
  ``keepdims=1`` (axes an input for ``ReduceSum``, and for every reduction from opset 18;
  an attribute before), then, with ``keepdims: false``, a ``Reshape`` to the output's
  ONNX shape (it counts nothing).
- ``conv_transpose``: one ``ConvTranspose``, its weight ``(Cin, filters/groups, *kernel)``
  and bias seeded; explicit ``pads`` (``padding: same``: ``auto_pad`` SAME_UPPER).
- ``depth_to_space``: one ``DepthToSpace`` (mode ``DCR`` or ``CRD``); ONNX's takes 2
  spatial dims only.
- ``pad``: one ``Pad`` of constant zeros on the channels and the spatial dims.
- A ``merge: mul``, ``sub`` or ``div`` row: ``Mul``, ``Sub`` or ``Div`` of the branches'
  outputs in order, an operand of lower rank first reshaped to ``[N, C, 1, …]`` so ONNX
  broadcasts it as the spec does (aligned at the channels).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np

from sepconv_cli.counting.network import Row
from sepconv_cli.counting.ops import ConvTranspose
from sepconv_cli.counting.shapes import resolve_padding
from sepconv_cli.interchange.onnx_build import ExportError, GraphBuilder, emit_activation, nchw
from sepconv_cli.interchange.onnx_tensor_emit import onnx_axis
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.spec.more_fields import REDUCTIONS

MORE_ROWS = frozenset({"reduce", "conv_transpose", "depth_to_space", "pad"})
"""The leaf row types written here."""
MERGE_ROWS = {"mul": "Mul", "sub": "Sub", "div": "Div"}
"""A branches block's merge rows written here, and their ONNX op."""


def emit_more_row(
    g: GraphBuilder,
    row: Row,
    layer: LayerSpec,
    inputs: Sequence[str],
    name: str,
    shapes: Sequence[tuple[int, ...]] | None = None,
) -> str:
    """Write ``row`` (a type of :data:`MORE_ROWS` or :data:`MERGE_ROWS`, made from
    ``layer``) reading ``inputs`` (of ``shapes``, for a merge), then its activation."""
    if row.type in MERGE_ROWS:
        out = _merge(g, row, inputs, shapes or [row.input_shape] * len(inputs), name)
    elif row.type == "reduce":
        out = _reduce(g, row, layer, inputs[0], name)
    elif row.type == "conv_transpose":
        out = _conv_transpose(g, row, layer, inputs[0], name)
    elif row.type == "depth_to_space":
        if len(row.input_shape) != 3:
            raise ExportError(
                f"{name}: ONNX's DepthToSpace takes 2 spatial dims, the layer has "
                f"{len(row.input_shape) - 1}"
            )
        mode = layer.order.upper()
        out = g.node("DepthToSpace", [inputs[0]], name, blocksize=layer.block_size, mode=mode)
    else:
        out = _pad(g, row, layer, inputs[0], name)
    return emit_activation(g, row.activation, out, f"{name}/{row.activation}")


def _reduce(g: GraphBuilder, row: Row, layer: LayerSpec, x: str, name: str) -> str:
    rank = len(row.input_shape)
    axes = sorted({onnx_axis(a, rank) for a in layer.axis or ()})
    op = REDUCTIONS[str(layer.reduction)]
    if op == "ReduceSum" or g.opset >= 18:
        constant = g.constant(f"{name}.axes", np.array(axes, np.int64))
        out = g.node(op, [x, constant], name, keepdims=1)
    else:
        out = g.node(op, [x], name, axes=axes, keepdims=1)
    if layer.keepdims:
        return out
    target = np.array(nchw(row.output_shape, 0), np.int64)  # 0: keep the batch
    return g.node("Reshape", [out, g.constant(f"{name}.shape", target)], f"{name}/drop")


def _conv_transpose(g: GraphBuilder, row: Row, layer: LayerSpec, x: str, name: str) -> str:
    op = row.forms.as_specified[0]
    assert isinstance(op, ConvTranspose)
    rank = len(op.kernel)
    cin, per_group = op.in_shape[-1], op.out_channels // op.groups
    fan_in = (cin // op.groups) * prod(op.kernel)
    inputs = [x, g.weight(f"{name}.weight", (cin, per_group, *op.kernel), fan_in)]
    if op.bias:
        inputs.append(g.weight(f"{name}.bias", (op.out_channels,), fan_in))

    def dims(values: tuple[int, ...] | None, default: int) -> list[int]:
        values = values or (default,)
        return list(values * rank if len(values) == 1 else values)

    attrs = {
        "group": op.groups,
        "kernel_shape": list(op.kernel),
        "strides": dims(layer.stride, 1),
        "dilations": dims(layer.dilation, 1),
        "output_padding": dims(layer.output_padding, 0),
    }
    if layer.padding == "same":
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        ones = (1,) * rank
        pads = resolve_padding(layer.padding or "valid", op.in_shape[:-1], ones, ones, ones)
        attrs["pads"] = [b for b, _ in pads] + [a for _, a in pads]
    return g.node("ConvTranspose", inputs, name, **attrs)


def _pad(g: GraphBuilder, row: Row, layer: LayerSpec, x: str, name: str) -> str:
    spatial = row.input_shape[:-1]
    ones = (1,) * len(spatial)
    pads = resolve_padding(layer.padding or "valid", spatial, ones, ones, ones)
    before, after = layer.channels or (0, 0)
    onnx = [0, before, *(b for b, _ in pads), 0, after, *(a for _, a in pads)]
    return g.node("Pad", [x, g.constant(f"{name}.pads", np.array(onnx, np.int64))], name)


def _merge(
    g: GraphBuilder, row: Row, inputs: Sequence[str], shapes: Sequence[tuple[int, ...]], name: str
) -> str:
    rank = max(len(s) for s in shapes)
    operands = []
    for i, (x, shape) in enumerate(zip(inputs, shapes, strict=True)):
        if len(shape) < rank:  # spec broadcasting aligns at the channels, ONNX at the end
            padded = (1,) * (rank - len(shape)) + tuple(shape)
            target = np.array([0, *nchw(padded, 1)[1:]], np.int64)
            x = g.node("Reshape", [x, g.constant(f"{name}.operand{i}", target)], f"{name}/rank{i}")
        operands.append(x)
    op, out = MERGE_ROWS[row.type], operands[0]
    for other in operands[1:]:
        out = g.node(op, [out, other], name)
    return out
