"""Each TFLite operator's ONNX nodes: the same arithmetic on the same shapes.

A rule reads the operator's tensors through the :class:`~tflite_emit.Emitter` (held NCHW or
in TFLite's own layout), adds its nodes and declares its outputs; it returns False when the
operator is one it cannot express (a computed filter, an ellipsis in a slice), and the
operator is then named as not counted. Output shapes are always the file's own: a shape
operator reshapes to its output tensor's dims rather than re-deriving them.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np

from sepconv_cli.interchange.tflite_emit import TO_NCHW, Emitter
from sepconv_cli.interchange.tflite_file import TfOperator

Rule = Callable[[Emitter, TfOperator], bool]
RULES: dict[str, Rule] = {}

SAME = 0  # tflite.Padding: SAME = 0, VALID = 1


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        for name in names:
            RULES[name] = function
        return function

    return register


def _pads(
    size_in: int, size_out: int, kernel: int, stride: int, dilation: int, same: bool
) -> tuple[int, int]:
    """TensorFlow's SAME padding of one spatial axis: what makes ``size_out`` windows, the
    odd one after (``(before, after)``); VALID pads nothing."""
    if not same:
        return 0, 0
    total = max((size_out - 1) * stride + (kernel - 1) * dilation + 1 - size_in, 0)
    return total // 2, total - total // 2


def _window(e: Emitter, op: TfOperator, kernel: tuple[int, int]) -> dict[str, object]:
    """Strides, dilations and explicit pads of a 2-D window op, from its NHWC tensors; a
    stride or dilation below 1, or an output the window cannot make from its input, is a
    damaged file (one line naming the operator)."""
    o = op.options
    strides = (int(o.get("StrideH", 1)), int(o.get("StrideW", 1)))
    dilations = (int(o.get("DilationHFactor", 1)), int(o.get("DilationWFactor", 1)))
    where = f"operator {op.index} ({op.op}, {e.layer(op)})"
    if min(*strides, *dilations, *kernel) < 1:
        raise e.fault(
            f"{where}: strides {strides}, dilations {dilations}, window {kernel}: each must be "
            "at least 1"
        )
    x, y = e.tensor(op.inputs[0]).shape, e.tensor(op.outputs[0]).shape
    same = int(o.get("Padding", SAME)) == SAME
    for axis in (1, 2):
        reach = (kernel[axis - 1] - 1) * dilations[axis - 1] + 1
        size = x[axis] if same else x[axis] - reach + 1
        expected = max(-(-size // strides[axis - 1]), 0)
        if y[axis] != expected:
            raise e.fault(
                f"{where}: declares an output {y[1]}×{y[2]}, but its {x[1]}×{x[2]} input and "
                f"window give {expected} along axis {axis} ({'SAME' if same else 'VALID'})"
            )
    top, bottom = _pads(x[1], y[1], kernel[0], strides[0], dilations[0], same)
    left, right = _pads(x[2], y[2], kernel[1], strides[1], dilations[1], same)
    return {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "dilations": list(dilations),
        "pads": [top, left, bottom, right],
    }


def _bias(e: Emitter, op: TfOperator, position: int) -> list[str]:
    index = op.inputs[position] if len(op.inputs) > position else -1
    return [e.held(index)] if e.known(index) and e.is_constant(index) else []


def _spatial(e: Emitter, op: TfOperator) -> bool:
    """Whether the op's data input is a rank-4 tensor held NCHW (what a window rule needs)."""
    return bool(op.inputs) and op.inputs[0] in e.nchw and e.rank(op.outputs[0]) == 4


@rule("CONV_2D")
def conv_2d(e: Emitter, op: TfOperator) -> bool:
    x, w = op.inputs[0], op.inputs[1]
    if not _spatial(e, op) or not e.is_constant(w) or e.rank(w) != 4:
        return False
    weight = e.float_value(w)  # (out, kh, kw, in / groups)
    channels = e.tensor(x).shape[3]
    if weight.shape[3] == 0 or channels % weight.shape[3]:
        return False
    attrs = _window(e, op, (weight.shape[1], weight.shape[2]))
    filters = e.initializer(weight.transpose(TO_NCHW), e.tensor(w).name)
    out = e.node(
        op,
        "Conv",
        [e.held(x), filters, *_bias(e, op, 2)],
        **attrs,
        group=channels // weight.shape[3],
    )
    e.put(op.outputs[0], e.activation(op, out), nchw=True)
    return True


@rule("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(e: Emitter, op: TfOperator) -> bool:
    """A depthwise filter is stored (1, kh, kw, channels × multiplier): as ONNX, one group per
    input channel, each with ``multiplier`` filters."""
    x, w = op.inputs[0], op.inputs[1]
    if not _spatial(e, op) or not e.is_constant(w) or e.rank(w) != 4:
        return False
    weight = e.float_value(w)
    channels, outputs = e.tensor(x).shape[3], weight.shape[3]
    if channels == 0 or outputs % channels:
        return False
    attrs = _window(e, op, (weight.shape[1], weight.shape[2]))
    filters = e.initializer(weight[0].transpose(2, 0, 1)[:, None], e.tensor(w).name)
    out = e.node(op, "Conv", [e.held(x), filters, *_bias(e, op, 2)], **attrs, group=channels)
    e.put(op.outputs[0], e.activation(op, out), nchw=True)
    return True


def _transpose_conv(
    e: Emitter,
    op: TfOperator,
    x: int,
    w: int,
    bias: list[str],
    strides: tuple[int, int],
    same: bool,
) -> bool:
    """A transposed convolution with filter (out, kh, kw, in) to the output dims the file
    holds: the pads (or output padding) that make exactly them."""
    if x not in e.nchw or not e.is_constant(w) or e.rank(w) != 4:
        return False
    weight = e.float_value(w)
    size_in, size_out = e.tensor(x).shape, e.tensor(op.outputs[0]).shape
    pads, extra = [0, 0, 0, 0], [0, 0]
    for axis in (0, 1):
        total = (size_in[axis + 1] - 1) * strides[axis] + weight.shape[axis + 1]
        total -= size_out[axis + 1]
        if total < 0:
            extra[axis] = -total
        else:
            before = total // 2 if same else 0
            pads[axis], pads[axis + 2] = before, total - before
    filters = e.initializer(weight.transpose(3, 0, 1, 2), e.tensor(w).name)
    out = e.node(
        op,
        "ConvTranspose",
        [e.held(x), filters, *bias],
        kernel_shape=[weight.shape[1], weight.shape[2]],
        strides=list(strides),
        pads=pads,
        output_padding=extra,
    )
    e.put(op.outputs[0], e.activation(op, out), nchw=True)
    return True


@rule("TRANSPOSE_CONV")
def transpose_conv(e: Emitter, op: TfOperator) -> bool:
    o = op.options
    strides = (int(o.get("StrideH", 1) or 1), int(o.get("StrideW", 1) or 1))
    same = int(o.get("Padding", SAME)) == SAME
    return _transpose_conv(e, op, op.inputs[2], op.inputs[1], _bias(e, op, 3), strides, same)


@rule("CUSTOM:Convolution2DTransposeBias")
def mediapipe_transpose_conv(e: Emitter, op: TfOperator) -> bool:
    """MediaPipe's transposed convolution with bias: inputs (x, filter, bias), options a
    TfLiteTransposeConvParams struct (padding 1 SAME / 2 VALID, stride w, stride h)."""
    raw = op.custom_options
    if len(raw) < 12 or len(op.inputs) < 2:
        return False
    padding, stride_w, stride_h = (int(v) for v in np.frombuffer(raw[:12], "<i4"))
    if stride_w < 1 or stride_h < 1:
        return False
    return _transpose_conv(
        e, op, op.inputs[0], op.inputs[1], _bias(e, op, 2), (stride_h, stride_w), padding == 1
    )


@rule("FULLY_CONNECTED")
def fully_connected(e: Emitter, op: TfOperator) -> bool:
    """``x · Wᵀ + b`` with W (units, in): the input flattened to (rows, in) unless
    keep_num_dims; a computed W (attention's keys) is a product of two computed tensors."""
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    if e.rank(w) != 2:
        return False
    keep = bool(op.options.get("KeepNumDims"))
    features = e.tensor(w).shape[1]
    data = e.tf(x)
    flat = e.rank(x) == 2 or not keep
    if e.rank(x) != 2 and not keep:
        rows = prod(e.tensor(x).shape) // max(features, 1)
        target = e.initializer(np.asarray([rows, features], np.int64), "fc_shape")
        data = e.node(op, "Reshape", [data, target])
    bias = _bias(e, op, 2)
    if e.is_constant(w) and flat:
        out = e.node(op, "Gemm", [data, e.held(w), *bias], transB=1)
    else:
        if e.is_constant(w):
            weight = e.initializer(e.float_value(w).T, e.tensor(w).name + "/T")
        else:
            weight = e.node(op, "Transpose", [e.tf(w)], perm=[1, 0])
        out = e.node(op, "MatMul", [data, weight])
        if bias:
            out = e.node(op, "Add", [out, bias[0]])
    if flat and e.rank(y) != 2:
        target = e.initializer(np.asarray(e.tensor(y).shape, np.int64), "fc_out_shape")
        out = e.node(op, "Reshape", [out, target])
    e.put_tf(y, e.activation(op, out))
    return True


@rule("AVERAGE_POOL_2D", "MAX_POOL_2D")
def pool_2d(e: Emitter, op: TfOperator) -> bool:
    """TFLite's average pool leaves the padding out of each window's count."""
    if not _spatial(e, op):
        return False
    o = op.options
    kernel = (int(o.get("FilterHeight", 1)), int(o.get("FilterWidth", 1)))
    attrs = _window(e, op, kernel)
    attrs.pop("dilations")
    if op.op == "AVERAGE_POOL_2D":
        out = e.node(op, "AveragePool", [e.held(op.inputs[0])], **attrs, count_include_pad=0)
    else:
        out = e.node(op, "MaxPool", [e.held(op.inputs[0])], **attrs)
    e.put(op.outputs[0], e.activation(op, out), nchw=True)
    return True
