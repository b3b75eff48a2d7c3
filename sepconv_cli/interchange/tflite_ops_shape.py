"""TFLite's slicing, gathering, splitting and matrix-product operators as ONNX nodes, all
in TFLite's own layout (their axes and indices are the file's)."""

from __future__ import annotations

import numpy as np

from sepconv_cli.interchange.tflite_emit import Emitter
from sepconv_cli.interchange.tflite_file import TfOperator
from sepconv_cli.interchange.tflite_ops import rule

END = np.iinfo(np.int64).max


def _multi(e: Emitter, op: TfOperator, op_type: str, inputs: list[str], **attrs: object) -> None:
    """A node with one output per TFLite output (Split), each declared."""
    outputs = [e.fresh(e.tensor(i).name) for i in op.outputs]
    e.nodes.append(
        e.onnx.helper.make_node(op_type, inputs, outputs, name=e.node_name(e.layer(op)), **attrs)
    )
    for index, name in zip(op.outputs, outputs, strict=True):
        e.put_tf(index, name)


def _to_shape(e: Emitter, op: TfOperator, name: str, index: int) -> str:
    target = e.initializer(np.asarray(e.tensor(index).shape, np.int64), "shape")
    return e.node(op, "Reshape", [name, target])


@rule("GATHER")
def gather(e: Emitter, op: TfOperator) -> bool:
    x, indices = op.inputs[0], op.inputs[1]
    axis = int(op.options.get("Axis", 0))
    where = e.held_ints(indices) if e.is_constant(indices) else e.tf(indices)
    e.put_tf(op.outputs[0], e.node(op, "Gather", [e.tf(x), where], axis=axis))
    return True


@rule("SLICE")
def slice_(e: Emitter, op: TfOperator) -> bool:
    if not (e.is_constant(op.inputs[1]) and e.is_constant(op.inputs[2])):
        return False
    begin = e.ints(op.inputs[1])
    size = e.ints(op.inputs[2])
    end = [END if s < 0 else b + s for b, s in zip(begin, size, strict=False)]
    starts = e.initializer(np.asarray(begin, np.int64), "starts")
    ends = e.initializer(np.asarray(end, np.int64), "ends")
    e.put_tf(op.outputs[0], e.node(op, "Slice", [e.tf(op.inputs[0]), starts, ends]))
    return True


@rule("STRIDED_SLICE")
def strided_slice(e: Emitter, op: TfOperator) -> bool:
    """begin/end/strides with TF's masks: a begin_mask bit starts the axis at its start, an
    end_mask bit runs it to its end, a shrink bit takes one element and drops the axis (a
    Reshape to the file's output dims). Ellipsis and new axes are not expressed."""
    o = op.options
    if int(o.get("EllipsisMask", 0) or 0) or int(o.get("NewAxisMask", 0) or 0):
        return False
    if not all(e.is_constant(i) for i in op.inputs[1:4]):
        return False
    begin, end, strides = (e.ints(i) for i in op.inputs[1:4])
    begin_mask = int(o.get("BeginMask", 0) or 0)
    end_mask = int(o.get("EndMask", 0) or 0)
    shrink = int(o.get("ShrinkAxisMask", 0) or 0)
    starts, ends = [], []
    for axis, (b, f, s) in enumerate(zip(begin, end, strides, strict=False)):
        if o.get("Offset"):
            f = b + f
        if shrink >> axis & 1:
            starts.append(b)
            ends.append(b + 1 if b != -1 else END)
            continue
        starts.append((0 if s > 0 else END) if begin_mask >> axis & 1 else b)
        ends.append((END if s > 0 else -END) if end_mask >> axis & 1 else f)
    names = [
        e.initializer(np.asarray(v, np.int64), label)
        for v, label in ((starts, "starts"), (ends, "ends"), (list(range(len(starts))), "axes"))
    ]
    names.append(e.initializer(np.asarray(strides[: len(starts)], np.int64), "steps"))
    out = e.node(op, "Slice", [e.tf(op.inputs[0]), *names])
    if shrink:
        out = _to_shape(e, op, out, op.outputs[0])
    e.put_tf(op.outputs[0], out)
    return True


@rule("SPLIT", "SPLIT_V")
def split(e: Emitter, op: TfOperator) -> bool:
    """SPLIT reads (axis, x), SPLIT_V (x, sizes, axis); the pieces' sizes are the file's
    outputs' own along the axis."""
    axis_input, data = (op.inputs[0], op.inputs[1]) if op.op == "SPLIT" else op.inputs[2::-2]
    if not e.is_constant(axis_input):
        return False
    rank = e.rank(data)
    axis = e.ints(axis_input)[0] % max(rank, 1)
    sizes = [e.tensor(i).shape[axis] for i in op.outputs]
    split_name = e.initializer(np.asarray(sizes, np.int64), "split")
    _multi(e, op, "Split", [e.tf(data), split_name], axis=axis)
    return True


@rule("PACK")
def pack(e: Emitter, op: TfOperator) -> bool:
    """Stacking: each input given the new axis (a Reshape), then one Concat along it."""
    y = op.outputs[0]
    axis = int(op.options.get("Axis", 0)) % max(e.rank(y), 1)
    pieces = []
    for index in op.inputs:
        shape = list(e.tensor(index).shape)
        shape.insert(axis, 1)
        target = e.initializer(np.asarray(shape, np.int64), "shape")
        pieces.append(e.node(op, "Reshape", [e.tf(index), target]))
    e.put_tf(y, e.node(op, "Concat", pieces, axis=axis))
    return True


@rule("UNPACK")
def unpack(e: Emitter, op: TfOperator) -> bool:
    x = op.inputs[0]
    axis = int(op.options.get("Axis", 0)) % max(e.rank(x), 1)
    pieces = [e.fresh(f"{e.layer(op)}/piece") for _ in op.outputs]
    sizes = e.initializer(np.ones(len(op.outputs), np.int64), "split")
    e.nodes.append(
        e.onnx.helper.make_node(
            "Split", [e.tf(x), sizes], pieces, name=e.node_name(e.layer(op)), axis=axis
        )
    )
    for index, piece in zip(op.outputs, pieces, strict=True):
        e.put_tf(index, _to_shape(e, op, piece, index))
    return True


@rule("TILE", "BROADCAST_TO")
def repeat(e: Emitter, op: TfOperator) -> bool:
    y = op.outputs[0]
    if op.op == "TILE":
        if not e.is_constant(op.inputs[1]):
            return False
        out = e.node(op, "Tile", [e.tf(op.inputs[0]), e.held_ints(op.inputs[1])])
    else:
        shape = e.initializer(np.asarray(e.tensor(y).shape, np.int64), "shape")
        out = e.node(op, "Expand", [e.tf(op.inputs[0]), shape])
    e.put_tf(y, out)
    return True


@rule("BATCH_MATMUL")
def batch_matmul(e: Emitter, op: TfOperator) -> bool:
    """``a · b`` over the leading (batch) dims, either operand transposed first (adj_x,
    adj_y): attention's products of two computed tensors."""
    names = []
    for index, flag in zip(op.inputs[:2], ("AdjX", "AdjY"), strict=True):
        name = e.tf(index)
        if op.options.get(flag):
            rank = e.rank(index)
            perm = [*range(rank - 2), rank - 1, rank - 2]
            name = e.node(op, "Transpose", [name], perm=perm)
        names.append(name)
    e.put_tf(op.outputs[0], e.node(op, "MatMul", names))
    return True


@rule("SHAPE")
def shape(e: Emitter, op: TfOperator) -> bool:
    """A tensor's dims, known from the file: an integer constant."""
    kind = np.int32 if e.tensor(op.outputs[0]).dtype == "int32" else np.int64
    dims = np.asarray(e.tensor(op.inputs[0]).shape, kind)
    e.values[op.outputs[0]] = e.initializer(dims, e.tensor(op.outputs[0]).name)
    return True


@rule("ARG_MAX", "ARG_MIN")
def arg_extreme(e: Emitter, op: TfOperator) -> bool:
    if not e.is_constant(op.inputs[1]):
        return False
    axis = e.ints(op.inputs[1])[0]
    kind = "ArgMax" if op.op == "ARG_MAX" else "ArgMin"
    e.put_tf(op.outputs[0], e.node(op, kind, [e.tf(op.inputs[0])], axis=axis, keepdims=0))
    return True
