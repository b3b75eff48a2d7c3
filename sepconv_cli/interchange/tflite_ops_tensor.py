"""TFLite's elementwise, reduction, number-format and shape operators as ONNX nodes.

Elementwise operators run where their operands are held (NCHW when one is a rank-4
activation, a constant moved to match); reductions and concatenations map their axes to
NCHW when that keeps the result's order, else run in TFLite's layout; shape operators
(reshape, squeeze, transpose, slices, gathers) run in TFLite's layout and produce the
file's own output dims.
"""

from __future__ import annotations

from math import prod

import numpy as np

from sepconv_cli.interchange.tflite_emit import NHWC_AXIS_IN_NCHW, Emitter
from sepconv_cli.interchange.tflite_file import TfOperator
from sepconv_cli.interchange.tflite_ops import rule

UNARY = {
    "LOGISTIC": "Sigmoid",
    "TANH": "Tanh",
    "RELU": "Relu",
    "HARD_SWISH": "HardSwish",
    "ELU": "Elu",
    "EXP": "Exp",
    "LOG": "Log",
    "SQRT": "Sqrt",
    "ABS": "Abs",
    "NEG": "Neg",
    "FLOOR": "Floor",
    "CEIL": "Ceil",
    "ROUND": "Round",
    "SIN": "Sin",
    "COS": "Cos",
    "SIGN": "Sign",
    "LOGICAL_NOT": "Not",
}
BINARY = {
    "ADD": "Add",
    "SUB": "Sub",
    "MUL": "Mul",
    "DIV": "Div",
    "MAXIMUM": "Max",
    "MINIMUM": "Min",
    "POW": "Pow",
    "LESS": "Less",
    "LESS_EQUAL": "LessOrEqual",
    "GREATER": "Greater",
    "GREATER_EQUAL": "GreaterOrEqual",
    "EQUAL": "Equal",
    "LOGICAL_AND": "And",
    "LOGICAL_OR": "Or",
}
CLIPS = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}
REDUCTIONS = {
    "MEAN": "ReduceMean",
    "SUM": "ReduceSum",
    "REDUCE_MAX": "ReduceMax",
    "REDUCE_MIN": "ReduceMin",
    "REDUCE_PROD": "ReduceProd",
}


def _same_layout(e: Emitter, op: TfOperator, out: str) -> None:
    """Declare a unary op's output, held as its input is."""
    e.put(op.outputs[0], out, nchw=op.inputs[0] in e.nchw)


@rule(*UNARY, "GELU", "LEAKY_RELU", *CLIPS, "RSQRT", "SQUARE")
def unary(e: Emitter, op: TfOperator) -> bool:
    x = e.held(op.inputs[0])
    if op.op in UNARY:
        out = e.node(op, UNARY[op.op], [x])
    elif op.op == "GELU":
        approximate = "tanh" if op.options.get("Approximate") else "none"
        out = e.node(op, "Gelu", [x], approximate=approximate)
    elif op.op == "LEAKY_RELU":
        out = e.node(op, "LeakyRelu", [x], alpha=float(op.options.get("Alpha", 0.2)))
    elif op.op in CLIPS:
        low, high = CLIPS[op.op]
        bounds = [e.initializer(np.float32(v), "clip") for v in (low, high)]
        out = e.node(op, "Clip", [x, *bounds])
    elif op.op == "RSQRT":
        out = e.node(op, "Reciprocal", [e.node(op, "Sqrt", [x])])
    else:  # SQUARE
        out = e.node(op, "Mul", [x, x])
    _same_layout(e, op, out)
    return True


@rule("QUANTIZE", "DEQUANTIZE", "CAST")
def number_format(e: Emitter, op: TfOperator) -> bool:
    """A change of number format: free. Of a constant (a float16 or int8 weight widened for
    a float op) it is a constant of the same dims, which the op reading it counts."""
    x, y = op.inputs[0], op.outputs[0]
    if e.is_constant(x):
        e.constants[y] = e.float_value(x)
        return True
    _same_layout(e, op, e.node(op, "Identity", [e.held(x)]))
    return True


@rule("DENSIFY")
def densify(e: Emitter, op: TfOperator) -> bool:
    """A sparse weight made dense: a constant of the dims it has once dense."""
    if not e.is_constant(op.inputs[0]):
        return False
    dense = e.tensor(op.outputs[0])
    if prod(dense.shape) > e.dense_limit:
        raise e.fault(
            f"operator {op.index} (DENSIFY) makes a weight of {prod(dense.shape):,} values "
            f"{dense.shape}, more than a file of this size can describe"
        )
    e.constants[op.outputs[0]] = np.zeros(dense.shape, np.float32)
    e.sparse.append(e.tensor(op.inputs[0]).name)
    return True


@rule(*BINARY, "SQUARED_DIFFERENCE", "PRELU", "SELECT", "SELECT_V2")
def elementwise(e: Emitter, op: TfOperator) -> bool:
    """Run where the operands are: NCHW if one is an NCHW activation and every other is one
    too or a constant (moved channels-first), else in TFLite's layout."""
    y = op.outputs[0]
    held = [i for i in op.inputs if i in e.nchw]
    names: list[str] | None = None
    if held and e.rank(y) == 4:
        names = []
        for i in op.inputs:
            if i in e.nchw:
                names.append(e.held(i))
            elif e.is_constant(i) and e.rank(i) <= 4:
                names.append(e.nchw_constant(i))
            else:
                names = None
                break
    nchw = names is not None
    if names is None:
        names = [e.tf(i) for i in op.inputs]
    if op.op in BINARY:
        out = e.node(op, BINARY[op.op], names)
    elif op.op == "SQUARED_DIFFERENCE":
        difference = e.node(op, "Sub", names)
        out = e.node(op, "Mul", [difference, difference])
    elif op.op == "PRELU":
        out = e.node(op, "PRelu", names)
    else:
        out = e.node(op, "Where", names)
    out = e.activation(op, out)
    e.put_held(y, out, nchw)
    return True


@rule("ADD_N")
def add_n(e: Emitter, op: TfOperator) -> bool:
    names = [e.tf(i) for i in op.inputs]
    out = names[0]
    for name in names[1:]:
        out = e.node(op, "Add", [out, name])
    e.put_tf(op.outputs[0], out)
    return True


def _nchw_axes(e: Emitter, x: int, axes: list[int], keep: bool) -> list[int] | None:
    """``axes`` of NHWC tensor ``x`` as NCHW axes, when reducing there leaves the kept axes
    in TFLite's order (always with keep_dims; H and W gone leaves N, C as in NHWC)."""
    if x not in e.nchw:
        return None
    axes = sorted({a % 4 for a in axes})
    kept = [a for a in range(4) if a not in axes]
    if not keep and sorted(kept, key=lambda a: NHWC_AXIS_IN_NCHW[a]) != kept:
        return None
    return [NHWC_AXIS_IN_NCHW[a] for a in axes]


@rule(*REDUCTIONS)
def reduction(e: Emitter, op: TfOperator) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    if not e.is_constant(op.inputs[1]):
        return False
    axes = e.ints(op.inputs[1])
    keep = bool(op.options.get("KeepDims"))
    mapped = _nchw_axes(e, x, axes, keep)
    data, nchw = (e.held(x), True) if mapped is not None else (e.tf(x), False)
    target = mapped if mapped is not None else [a % max(e.rank(x), 1) for a in axes]
    axes_name = e.initializer(np.asarray(sorted(set(target)), np.int64), "axes")
    out = e.node(op, REDUCTIONS[op.op], [data, axes_name], keepdims=int(keep))
    e.put_held(y, out, nchw)
    return True


@rule("SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION")
def over_channels(e: Emitter, op: TfOperator) -> bool:
    """Along the last NHWC axis: the channels, axis 1 of an NCHW tensor."""
    x = op.inputs[0]
    axis = 1 if x in e.nchw else -1
    data = e.held(x)
    if op.op == "SOFTMAX":
        beta = float(op.options.get("Beta", 1.0) or 1.0)
        if beta != 1.0:
            data = e.node(op, "Mul", [data, e.initializer(np.float32(beta), "beta")])
        out = e.node(op, "Softmax", [data], axis=axis)
    elif op.op == "LOG_SOFTMAX":
        out = e.node(op, "LogSoftmax", [data], axis=axis)
    else:  # x / sqrt(sum(x²)) along the channels
        squares = e.node(op, "Mul", [data, data])
        axes = e.initializer(np.asarray([axis], np.int64), "axes")
        total = e.node(op, "ReduceSum", [squares, axes], keepdims=1)
        out = e.node(op, "Div", [data, e.node(op, "Sqrt", [total])])
    out = e.activation(op, out)
    _same_layout(e, op, out)
    return True


@rule("CONCATENATION")
def concatenation(e: Emitter, op: TfOperator) -> bool:
    y = op.outputs[0]
    rank = e.rank(y)
    axis = int(op.options.get("Axis", 0)) % max(rank, 1)
    if rank == 4 and all(i in e.nchw or e.is_constant(i) for i in op.inputs):
        names = [e.held(i) if i in e.nchw else e.nchw_constant(i) for i in op.inputs]
        out = e.node(op, "Concat", names, axis=NHWC_AXIS_IN_NCHW[axis])
        e.put(y, e.activation(op, out), nchw=True)
        return True
    out = e.node(op, "Concat", [e.tf(i) for i in op.inputs], axis=axis)
    e.put_tf(y, e.activation(op, out))
    return True


@rule("PAD", "PADV2", "MIRROR_PAD")
def pad(e: Emitter, op: TfOperator) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    if not e.is_constant(op.inputs[1]):
        return False
    pairs = np.asarray(e.ints(op.inputs[1]), np.int64).reshape(-1, 2)
    if x in e.nchw and len(pairs) == 4:
        order = [NHWC_AXIS_IN_NCHW.index(j) for j in range(4)]  # NCHW axis j ← NHWC axis
        pairs = pairs[order]
        data, nchw = e.held(x), True
    else:
        data, nchw = e.tf(x), False
    pads = e.initializer(np.concatenate([pairs[:, 0], pairs[:, 1]]), "pads")
    inputs = [data, pads]
    if op.op == "PADV2" and len(op.inputs) > 2 and e.is_constant(op.inputs[2]):
        inputs.append(e.initializer(e.float_value(op.inputs[2]).reshape(()), "pad_value"))
    mode = "reflect" if op.op == "MIRROR_PAD" else "constant"
    out = e.node(op, "Pad", inputs, mode=mode)
    e.put_held(y, out, nchw)
    return True


@rule("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(e: Emitter, op: TfOperator) -> bool:
    """To the output tensor's own dims (a computed target shape is the file's result)."""
    y = op.outputs[0]
    target = e.initializer(np.asarray(e.tensor(y).shape, np.int64), "shape")
    e.put_tf(y, e.node(op, "Reshape", [e.tf(op.inputs[0]), target]))
    return True


@rule("TRANSPOSE")
def transpose(e: Emitter, op: TfOperator) -> bool:
    if not e.is_constant(op.inputs[1]):
        return False
    out = e.node(op, "Transpose", [e.tf(op.inputs[0])], perm=e.ints(op.inputs[1]))
    e.put_tf(op.outputs[0], out)
    return True


@rule("DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
def depth_space(e: Emitter, op: TfOperator) -> bool:
    x = op.inputs[0]
    if x not in e.nchw:
        return False
    size = int(op.options.get("BlockSize", 1) or 1)
    if op.op == "DEPTH_TO_SPACE":
        out = e.node(op, "DepthToSpace", [e.held(x)], blocksize=size, mode="DCR")
    else:
        out = e.node(op, "SpaceToDepth", [e.held(x)], blocksize=size)
    e.put(op.outputs[0], out, nchw=True)
    return True


@rule("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def resize(e: Emitter, op: TfOperator) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    if x not in e.nchw or e.rank(y) != 4:
        return False
    n, h, w, c = e.tensor(y).shape
    sizes = e.initializer(np.asarray([n, c, h, w], np.int64), "sizes")
    if op.options.get("AlignCorners"):
        transform = "align_corners"
    elif op.options.get("HalfPixelCenters"):
        transform = "half_pixel"
    else:
        transform = "asymmetric"
    mode = "linear" if op.op == "RESIZE_BILINEAR" else "nearest"
    out = e.node(
        op,
        "Resize",
        [e.held(x), "", "", sizes],
        mode=mode,
        coordinate_transformation_mode=transform,
    )
    e.put(y, out, nchw=True)
    return True
