"""Nodes that join a row the walk already made, as a YAML layer's parts are one layer: a
MatMul's bias Add, the GELU exporters write out below opset 20.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sepconv_cli.counting.ops import Conv, Dense
from sepconv_cli.interchange.onnx_nodes import written_out_gelu
from sepconv_cli.interchange.onnx_outcomes import one
from sepconv_cli.interchange.onnx_pairs import relower
from sepconv_cli.interchange.onnx_shapes import fold
from sepconv_cli.interchange.onnx_walk_state import Walk, only_reader


def join_matmul_bias(walk: Walk, node: Any, out: str) -> bool:
    """``MatMul → Add(bias vector)`` is a dense layer with a bias (a Linear): it joins the
    MatMul's row."""
    computed = [n for n in node.input if not walk.tensors.is_weight(n)]
    bias = [n for n in node.input if walk.tensors.is_weight(n)]
    if len(computed) != 1 or len(bias) != 1:
        return False
    row = only_reader(walk, computed[0])
    if row is None or not walk.rows[row].bias_free_matmul:
        return False
    target = walk.rows[row]
    if target.pair_depthwise is not None:  # a pair whose pointwise is this Linear
        if walk.tensors.shapes.get(bias[0]) not in (
            (target.spec.filters,),
            (1, target.spec.filters),
        ):
            return False
        target.spec = replace(target.spec, bias=True)
        relower(target)
        target.bias_free_matmul = False
        walk.producer[out] = row
        return True
    op = target.forms.as_specified[0]
    biased: Dense | Conv
    if isinstance(op, Dense):
        biased, units = replace(op, bias=True), op.units
    elif isinstance(op, Conv):
        biased, units = replace(op, bias=True), op.out_channels
    else:
        return False
    if walk.tensors.shapes.get(bias[0]) not in ((units,), (1, units)):
        return False
    target.forms = one(biased)
    target.bias_free_matmul = False
    walk.producer[out] = row
    return True


class _GraphOutput:
    """A graph output among a tensor's readers: no node, so no pattern takes it."""

    op_type = ""


def join_decomposed_gelu(walk: Walk, nodes: Sequence[Any], index: int) -> bool:
    """The GELU exporters write out below opset 20 (onnx_nodes.written_out_gelu), starting at
    the ``Div`` ``nodes[index]``: one ``gelu`` activation on the row that produced x, as a
    ``Gelu`` node is (its FLOPs apart, by the activation convention), instead of four
    elementwise rows and an ``Erf`` not counted."""

    def readers(tensor: str) -> list[Any]:
        return [nodes[i] if i >= 0 else _GraphOutput() for i in walk.readers.get(tensor, [])]

    def scalar(tensor: str) -> float | None:
        value = walk.tensors.value(tensor)
        if value is None and tensor in walk.constants:  # a Constant node later in the graph
            folded = fold(walk.constants[tensor], walk.tensors)
            value = folded[0] if folded else None
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    x = nodes[index].input[0]
    matched = written_out_gelu(x, readers, scalar, lambda a, b: a == b)
    if matched is None or matched[0] is not nodes[index]:
        return False
    # (a match is rare: the node positions are looked up only then)
    position = {id(node): i for i, node in enumerate(nodes)}
    later = [position[id(node)] for node in matched[1:]]
    row = walk.producer.get(x)
    # each node not visited yet (the x · 0.5 of sepconv's order might come first), and x
    # the output of a row with no activation of its own
    if min(later) < index or row is None or walk.rows[row].activation != "none":
        return False
    walk.rows[row].activation = "gelu"
    shape = walk.tensors.shapes[x]
    for node in matched:
        walk.tensors.shapes[node.output[0]] = shape
    walk.skip.update(later)
    walk.producer[matched[-1].output[0]] = row
    return True


def join_written_batch_norm(walk: Walk, nodes: Sequence[Any], index: int) -> bool:
    """A batch-norm written out as ``Mul`` by a per-channel weight then ``Add`` of one
    (tf2onnx writes a Keras BatchNormalization after a depthwise conv so) right after a
    convolution that nothing else reads: the conv's ``batch_norm``, as a BatchNormalization
    node would be (2 parameters per channel: the same scale and shift values), so a
    depthwise and the 1×1 after it still pair."""
    mul = nodes[index]
    found = _after_conv(walk, mul, "Mul")
    if found is None:
        return False
    row, shape = found
    target = walk.rows[row]
    if target.spec.batch_norm != "none":
        return False
    readers = walk.readers.get(mul.output[0], [])
    add = nodes[readers[0]] if len(readers) == 1 and readers[0] > index else None
    if add is None or add.op_type != "Add" or len(add.input) != 2:
        return False
    if mul.output[0] not in add.input or not _per_channel(walk, add, mul.output[0], shape):
        return False
    target.spec = replace(target.spec, batch_norm="each")
    relower(target)
    for tensor in (mul.output[0], add.output[0]):
        walk.tensors.shapes[tensor] = shape
    walk.producer[add.output[0]] = row
    walk.skip.add(readers[0])
    walk.written_bn += 1
    return True


def _after_conv(walk: Walk, node: Any, op_type: str) -> tuple[int, tuple[int, ...]] | None:
    """The row and NCHW shape of the conv whose output ``node`` (an ``op_type`` of it and a
    per-channel weight) alone reads, when that conv has no activation yet; else None."""
    computed = [n for n in node.input if not walk.tensors.is_weight(n)]
    if node.op_type != op_type or len(node.input) != 2 or len(computed) != 1:
        return None
    x = computed[0]
    row = only_reader(walk, x)
    shape = walk.tensors.shapes.get(x, ())
    if row is None or len(shape) < 3 or not _per_channel(walk, node, x, shape):
        return None
    target = walk.rows[row]
    if target.spec is None or target.activation != "none":
        return None
    return row, shape


def _per_channel(walk: Walk, node: Any, x: str, shape: tuple[int, ...]) -> bool:
    """The other input of ``node`` is a weight of one value per channel of the NCHW
    ``shape``: ``(C, 1, 1)``, ``(1, C, 1, 1)``."""
    other = [n for n in node.input if n != x]
    if len(other) != 1 or not walk.tensors.is_weight(other[0]):
        return False
    dims = walk.tensors.shapes.get(other[0])
    if dims is None or len(dims) > len(shape):
        return False
    aligned = (1,) * (len(shape) - len(dims)) + tuple(dims)
    return aligned[1] == shape[1] > 1 and all(d == 1 for i, d in enumerate(aligned) if i != 1)


def join_conv_bias(walk: Walk, node: Any, out: str) -> bool:
    """An ``Add`` of a per-channel weight right after a convolution that nothing else reads
    and that has no bias, batch-norm or activation yet (paddle2onnx writes a conv's bias
    so): the conv's ``bias``, as a Conv node's third input would be (the same C parameters
    and C adds per position)."""
    found = _after_conv(walk, node, "Add")
    if found is None:
        return False
    row, shape = found
    target = walk.rows[row]
    spec = target.spec
    if spec.bias or spec.batch_norm != "none":
        return False
    target.spec = replace(spec, bias=True)
    relower(target)
    walk.producer[out] = row
    walk.tensors.shapes[out] = shape
    return True
