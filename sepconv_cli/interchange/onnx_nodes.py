"""One ONNX node → what sepconv counts for it, as the same operations a YAML spec lowers to.

A node is one of (the outcomes, :mod:`onnx_outcomes`):

* :class:`Counted` — a row of the report: a convolution (lowered by
  :func:`sepconv_cli.counting.lowering.lower` from a ``conv`` layer spec, so its three forms
  follow the one forms rule), a matrix product, a pool, a batch-norm, an elementwise op or a
  channel concat;
* :class:`Activation` — an activation function, which joins the row that produced its input
  (no MACs, its FLOPs apart: sepconv's activation convention);
* :class:`Hidden` — data movement and shape arithmetic (Reshape, Transpose, Slice, Pad,
  ...): no arithmetic, hidden from the table unless ``--all-nodes``;
* :class:`NotCounted` — anything else, named in every report (never a silent zero).

Shapes in and out are ONNX's (batch first, channels second); the operations get them
channels-last with the batch apart, as everywhere in sepconv.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from sepconv_cli.counting.lowering import lower
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Concat,
    Conv,
    ConvTranspose,
    Dense,
    LayerNorm,
    Op,
    Pool,
    PoolKind,
    Scale,
)
from sepconv_cli.counting.shapes import ShapeError, same_padding
from sepconv_cli.counting.widths import Width
from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_outcomes import (
    Activation,
    Counted,
    Hidden,
    NotCounted,
    Outcome,
    one,
)
from sepconv_cli.interchange.onnx_shape_rules import SHAPE_ONLY, rule_for
from sepconv_cli.interchange.onnx_shapes import (
    MalformedNode,
    NodeShapeError,
    Tensors,
    attributes,
    matmul_shape,
    text_attribute,
)
from sepconv_cli.interchange.onnx_tensor_nodes import (
    ELEMENTWISE_FLOPS,
    RECURRENT,
    REDUCTIONS,
    einsum,
    elementwise,
    group_norm,
    interpolation,
    product,
    recurrent,
    reduction,
)
from sepconv_cli.spec.layers import LayerSpec


def channels_last(shape: Shape) -> Shape:
    """ONNX ``(N, C, *spatial)`` → sepconv's ``(*spatial, C)``; ``(N, K)`` → ``(K,)``."""
    if len(shape) >= 3:
        return (*shape[2:], shape[1])
    return tuple(shape[1:]) if len(shape) == 2 else tuple(shape)


def batch_first(op_shape: Shape, batch: int, rank: int) -> Shape:
    """A channels-last op shape back in ONNX's order (``rank`` dims, batch first)."""
    if rank >= 3:
        spatial = op_shape[:-1] or (1,) * (rank - 2)
        return (batch, op_shape[-1], *spatial)
    return (batch, *op_shape)


def _pads(node: Any, spatial: Shape, kernel: Shape, stride: Shape, dilation: Shape) -> Any:
    """ONNX padding → (before, after) per spatial dim: ``pads`` is all the begins, then all
    the ends; SAME_UPPER is TensorFlow's ``same`` (the odd pad after), SAME_LOWER puts it
    before; VALID is none."""
    a = attributes(node)
    mode = text_attribute(node, "auto_pad", "NOTSET")
    rank = len(spatial)
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [
            same_padding(*dims) for dims in zip(spatial, kernel, stride, dilation, strict=True)
        ]
        return tuple(p if mode == "SAME_UPPER" else (p[1], p[0]) for p in pairs)
    if mode == "VALID":
        return ((0, 0),) * rank
    pads = [int(p) for p in a.get("pads", [0] * 2 * rank)]
    return tuple((pads[i], pads[i + rank]) for i in range(rank))


def _conv(node: Any, shapes: list[Shape], where: str, name: str) -> tuple[Outcome, list[Shape]]:
    x, w = shapes[0], shapes[1]
    a = attributes(node)
    rank = len(x) - 2
    if rank < 1 or len(w) != rank + 2:
        raise MalformedNode(f"input {x} and weight {w} are not an N-d convolution")
    kernel = tuple(w[2:])
    written = a.get("kernel_shape")
    if written is not None and tuple(written) != kernel:
        raise UsageError(
            f"{where}: kernel_shape {tuple(written)} disagrees with the weight's kernel {kernel}"
        )
    groups = int(a.get("group", 1))
    if w[1] * groups != x[1]:
        raise UsageError(
            f"{where}: the weight {w} with group {groups} needs {w[1] * groups} input "
            f"channels, the input has {x[1]}"
        )
    stride = tuple(int(v) for v in a.get("strides", [1] * rank))
    dilation = tuple(int(v) for v in a.get("dilations", [1] * rank))
    pads = _pads(node, x[2:], kernel, stride, dilation)
    spec = LayerSpec(
        type="conv",
        where=where,
        name=name,
        kernel=kernel,
        filters=w[0],
        stride=stride,
        padding=pads,
        dilation=dilation,
        groups=groups,
        bias=len(node.input) > 2 and bool(node.input[2]),
    )
    try:
        forms = lower(spec, channels_last(x), Width())
    except ShapeError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return Counted("conv", forms, spec=spec), [batch_first(forms.out_shape, x[0], len(x))]


def _conv_transpose_shape(node: Any, shapes: list[Shape]) -> list[Shape]:
    """ConvTranspose's output: ``s·(n-1) + output_padding + (k-1)·d + 1 - pads``."""
    x, w = shapes[0], shapes[1]
    a = attributes(node)
    rank = len(x) - 2
    groups = int(a.get("group", 1))
    if "output_shape" in a:
        return [(x[0], w[1] * groups, *(int(v) for v in a["output_shape"][-rank:]))]
    stride = [int(v) for v in a.get("strides", [1] * rank)]
    dilation = [int(v) for v in a.get("dilations", [1] * rank)]
    extra = [int(v) for v in a.get("output_padding", [0] * rank)]
    pads = [int(v) for v in a.get("pads", [0] * 2 * rank)]
    mode = text_attribute(node, "auto_pad", "NOTSET")
    out = []
    for i in range(rank):
        if mode.startswith("SAME"):  # the input size times the stride
            out.append(x[2 + i] * stride[i])
            continue
        full = stride[i] * (x[2 + i] - 1) + extra[i] + (w[2 + i] - 1) * dilation[i] + 1
        out.append(full - (0 if mode == "VALID" else pads[i] + pads[i + rank]))
    return [(x[0], w[1] * groups, *out)]


def _conv_transpose(node: Any, shapes: list[Shape]) -> tuple[Outcome, list[Shape]]:
    """A ``conv_transpose`` row: one form (the forms rule is about convolutions; a
    transposed one has no separable what-if here)."""
    x, w = shapes[0], shapes[1]
    out = _conv_transpose_shape(node, shapes)[0]
    groups = int(attributes(node).get("group", 1))
    bias = len(node.input) > 2 and bool(node.input[2])
    op = ConvTranspose(channels_last(x), out[1], tuple(w[2:]), tuple(out[2:]), groups, bias)
    return Counted("conv_transpose", one(op)), [out]


def _matmul(node: Any, shapes: list[Shape], tensors: Tensors) -> tuple[Outcome, list[Shape]]:
    """A product with a 2-D weight ``(K, N)`` (an initializer, a ``Constant``, or one the
    exporter stored transposed or cast): on ``(B, K)`` a dense layer, on ``(B, ..., K)`` a
    pointwise convolution over the middle dims (a Linear on tokens). Any other product (of
    two computed tensors, as attention's; a batched weight) is a ``matmul`` row of
    ``prod(out) · K`` MACs."""
    a, b = shapes[0], shapes[1]
    out = matmul_shape(a, b)
    weight = tensors.is_weight(node.input[1]) and not tensors.is_weight(node.input[0])
    if not weight or len(b) != 2 or len(a) < 2:
        return product(node, shapes, out, a[-1], tensors)
    units = b[1]
    if len(a) == 2:
        op: Op = Dense((a[1],), units, bias=False)
    else:
        ones = (1,) * (len(a) - 2)
        zero = ((0, 0),) * len(ones)
        op = Conv(tuple(a[1:]), units, ones, ones, ones, zero, role="pointwise")
    return Counted("dense", one(op), bias_free_matmul=True), [out]


def _gemm(node: Any, shapes: list[Shape], tensors: Tensors) -> tuple[Outcome, list[Shape]]:
    """``Y = α·A'·B' + β·C`` with A' = (M, K): a dense layer when B is a weight."""
    a = attributes(node)
    left, right = shapes[0], shapes[1]
    if len(left) != 2 or len(right) != 2:
        raise MalformedNode(f"Gemm needs two matrices, not {left} and {right}")
    m, k = (left[1], left[0]) if a.get("transA", 0) else left
    inner, n = (right[1], right[0]) if a.get("transB", 0) else right
    if inner != k:
        raise MalformedNode(f"inner dims differ: A' is {m}x{k}, B' is {inner}x{n}")
    if not tensors.is_weight(node.input[1]) or a.get("transA", 0):
        return product(node, shapes[:2], (m, n), k, tensors)
    bias = len(node.input) > 2 and bool(node.input[2])
    return Counted("dense", one(Dense((k,), n, bias=bias))), [(m, n)]


def _pool(node: Any, shapes: list[Shape]) -> tuple[Outcome, list[Shape]]:
    x = shapes[0]
    a = attributes(node)
    rank = len(x) - 2
    kind: PoolKind = "max" if node.op_type in ("MaxPool", "GlobalMaxPool") else "avg"
    if node.op_type.startswith("Global"):
        spatial = x[2:]
        pool = Pool(channels_last(x), kind, spatial, spatial, ((0, 0),) * rank, global_=True)
        return Counted("global_pool", one(pool)), [(x[0], x[1], *(1,) * rank)]
    if any(int(d) != 1 for d in a.get("dilations", [1] * rank)):
        raise NodeShapeError("a dilated pool is not counted")
    kernel = tuple(int(v) for v in a["kernel_shape"])
    stride = tuple(int(v) for v in a.get("strides", [1] * rank))  # ONNX's default: 1
    pads = _pads(node, x[2:], kernel, stride, (1,) * rank)
    pool = Pool(channels_last(x), kind, kernel, stride, pads, ceil_mode=bool(a.get("ceil_mode", 0)))
    try:
        out = pool.out_shape
    except ShapeError as exc:
        raise MalformedNode(str(exc)) from None
    return Counted("pool", one(pool)), [batch_first(out, x[0], len(x))] * len(node.output)


def _clip_activation(node: Any, tensors: Tensors, out: Shape) -> Outcome:
    a = attributes(node)
    low, high = a.get("min"), a.get("max")
    if len(node.input) > 1 and node.input[1]:
        value = tensors.value(node.input[1])
        low = None if value is None or value.size != 1 else float(value.reshape(-1)[0])
    if len(node.input) > 2 and node.input[2]:
        value = tensors.value(node.input[2])
        high = None if value is None or value.size != 1 else float(value.reshape(-1)[0])
    if low == 0 and high == 6:
        return Activation("relu6")
    if low == 0 and high is None:
        return Activation("relu")
    return elementwise(node, [tensors.shapes[n] for n in node.input if n], out, tensors)


ACTIVATIONS = {
    "Relu": "relu",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Sigmoid": "sigmoid",
    "Gelu": "gelu",
    "Tanh": "tanh",
    "LeakyRelu": "leaky_relu",  # any slope: the same FLOPs
    "Softmax": "softmax",  # on a counted row's output alone (a classifier's); attention's
    # scores come from a product sepconv does not count, so that Softmax stays named
}
"""ONNX activation ops → sepconv's activation names (counting/ops.py ACTIVATION_FLOPS)."""


def written_out_gelu(
    x: str,
    readers: Callable[[str], list[Any]],
    scalar: Callable[[str], float | None],
    same: Callable[[str, str], bool],
) -> list[Any] | None:
    """GELU as exporters write it below opset 20, which has no ``Gelu``: ``x/√2 → Erf → +1``,
    multiplied by ``x`` and by 0.5 in either order (torch.onnx: ``(x · (erf + 1)) · 0.5``;
    sepconv's export: ``(x · 0.5) · (erf + 1)``). The five nodes, in that order, when ``x``
    is read by exactly the ``Div`` and the ``Mul`` that starts the product, else None.

    One rule for both ONNX readers: ``readers(t)`` gives the nodes reading tensor ``t`` (a
    graph output among them as a node of no op type), ``scalar(t)`` a one-value constant's
    value or None, ``same`` whether two names are one tensor."""

    def is_value(tensor: str, expected: float) -> bool:
        value = scalar(tensor)
        return value is not None and abs(value - expected) < 1e-5

    def sole(tensor: str, op_type: str) -> Any | None:
        found = readers(tensor)
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    def others(node: Any, tensor: str) -> list[str]:
        return [t for t in node.input if not same(t, tensor)]

    def halves(node: Any | None, tensor: str) -> bool:
        """``node`` is ``tensor · 0.5``."""
        if node is None or node.op_type != "Mul":
            return False
        rest = others(node, tensor)
        return len(rest) == 1 and len(node.input) == 2 and is_value(rest[0], 0.5)

    first = readers(x)
    div = next((n for n in first if n.op_type == "Div"), None)
    if len(first) != 2 or div is None or not same(div.input[0], x):
        return None
    if len(div.input) != 2 or not is_value(div.input[1], 2**0.5):
        return None
    erf = sole(div.output[0], "Erf")
    add = sole(erf.output[0], "Add") if erf is not None else None
    if erf is None or add is None:
        return None
    ones = others(add, erf.output[0])
    final = sole(add.output[0], "Mul")
    if len(ones) != 1 or not is_value(ones[0], 1.0) or final is None:
        return None
    other = first[1] if first[0] is div else first[0]
    if other is final:  # (x · (erf + 1)) · 0.5: the product reads x itself
        half = sole(final.output[0], "Mul")
        return [div, erf, add, final, half] if halves(half, final.output[0]) else None
    # (x · 0.5) · (erf + 1)
    if not halves(other, x) or not any(same(t, other.output[0]) for t in final.input):
        return None
    return [div, erf, add, other, final]


def _elementwise(node: Any, shapes: list[Shape], out: Shape, tensors: Tensors) -> Outcome:
    """Add/Sub/Mul/Div: one FLOP per output value. Two tensors of the output's shape are an
    ``add`` (it reads both); a broadcast one (a per-channel gate, a constant) a ``scale``.

    An ``Add`` or ``Mul`` of an initializer of more than one value (ConvNeXt's layer scale,
    a position embedding, a bias on its own) counts its values as parameters, as PyTorch
    counts those ``nn.Parameter``s; a scalar is a constant (``x + 3`` in a hard-swish), and
    ``Sub``/``Div`` by an initializer are taken as constants too (an input's mean and std
    folded into the graph)."""
    kind = node.op_type.lower()
    if len(out) < 2:
        return elementwise(node, shapes, out, tensors)
    params = 0
    if node.op_type in ("Add", "Mul"):
        weights = [tensors.shapes[n] for n in node.input if tensors.is_weight(n)]
        params = sum(prod(dims) for dims in weights if prod(dims) > 1)
    if all(s == out for s in shapes):
        return Counted(kind, one(Add(channels_last(out), params=params)))
    return Counted(kind, one(Scale(channels_last(out), params=params)))


def count_node(
    node: Any, shapes: list[Shape], tensors: Tensors, where: str, name: str
) -> tuple[Outcome, list[Shape]]:
    """What ``node`` counts, and its output shapes (ONNX order)."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):  # a runtime's own op, whatever its name
        return NotCounted(f"an operator of the domain {node.domain}"), []
    if op == "Conv":
        return _conv(node, shapes, where, name)
    if op == "ConvTranspose":
        return _conv_transpose(node, shapes)
    if op == "MatMul":
        return _matmul(node, shapes, tensors)
    if op == "Gemm":
        return _gemm(node, shapes, tensors)
    if op == "Einsum":
        return einsum(node, shapes, tensors)
    if op in RECURRENT:
        return recurrent(node, shapes, tensors)
    if op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
        return _pool(node, shapes)
    rule = rule_for(op)
    if rule is None:
        raise NodeShapeError(f"no counting rule for {op}")
    outs = rule(node, shapes, tensors)
    if op in SHAPE_ONLY:
        return Hidden(), outs
    if op == "BatchNormalization":
        return Counted("batch_norm", one(BatchNorm(channels_last(shapes[0])))), outs[:1]
    if op == "LayerNormalization":
        return _layer_norm(node, shapes, tensors), outs
    if op in ACTIVATIONS:
        return Activation(ACTIVATIONS[op]), outs
    if op == "Clip":
        return _clip_activation(node, tensors, outs[0]), outs
    if op in ("Add", "Sub", "Mul", "Div"):
        return _elementwise(node, shapes, outs[0], tensors), outs
    if op == "Concat":
        return _concat(node, shapes, outs[0]), outs
    if op in ("Resize", "Upsample"):
        mode = text_attribute(node, "mode", "nearest")
        if mode == "nearest":
            return Hidden(), outs
        return interpolation(node, shapes, outs[0], mode), outs
    if op in ("InstanceNormalization", "GroupNormalization"):
        return group_norm(node, shapes, tensors), outs
    if op == "ReduceMean":
        return _reduce_mean(node, shapes, tensors, outs[0]), outs
    if op in REDUCTIONS:
        return reduction(node, shapes, outs[0]), outs
    if op in ELEMENTWISE_FLOPS:
        return elementwise(node, shapes, outs[0], tensors), outs
    return NotCounted(f"no counting rule for {op}"), outs


def _layer_norm(node: Any, shapes: list[Shape], tensors: Tensors) -> Outcome:
    """``LayerNormalization`` over the dims from ``axis`` on (default the last): a
    ``layer_norm`` row; its scale (an input ONNX requires) and its bias (optional) are
    parameters when they are initializers. The shape is ONNX's own order, batch dropped:
    the dims normalized are the trailing ones (after a Transpose to channels-last,
    ConvNeXt's and every transformer's: the channels)."""
    x = shapes[0]
    axis = int(attributes(node).get("axis", -1))
    axis = axis + len(x) if axis < 0 else axis
    if not 1 <= axis < len(x):
        return NotCounted(f"a layer norm over axis {axis} (the batch) is not counted")

    def learned(position: int) -> bool:
        name = node.input[position] if position < len(node.input) else ""
        return bool(name) and tensors.is_weight(name)

    epsilon = float(attributes(node).get("epsilon", 1e-5))
    op = LayerNorm(tuple(x[1:]), prod(x[axis:]), learned(1), learned(2), epsilon)
    return Counted("layer_norm", one(op))


def _concat(node: Any, shapes: list[Shape], out: Shape) -> Outcome:
    """A concat along channels is a row (it copies); along any other axis data movement."""
    axis = int(attributes(node)["axis"])
    if len(out) >= 3 and axis in (1, 1 - len(out)) and all(len(s) == len(out) for s in shapes):
        return Counted("concat", one(Concat(tuple(channels_last(s) for s in shapes))))
    return Hidden()


def _reduce_mean(node: Any, shapes: list[Shape], tensors: Tensors, out: Shape) -> Outcome:
    """A mean over every spatial dim is a global average pool (one FLOP per input value);
    over other dims, a reduction (the same FLOPs)."""
    x = shapes[0]
    spatial = set(range(2, len(x)))
    a = attributes(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = tensors.value(node.input[1])
        if axes is None:
            return NotCounted("ReduceMean with computed axes")
    picked = {int(v) % len(x) for v in axes} if axes is not None else set(range(len(x)))
    if len(x) < 3 or picked != spatial or prod(x) == 0:
        return reduction(node, shapes, out)
    rank = len(x) - 2
    pool = Pool(channels_last(x), "avg", x[2:], x[2:], ((0, 0),) * rank, global_=True)
    return Counted("global_pool", one(pool))
