"""One layer spec at a known input shape → its three forms as sequences of primitive ops.

Forms (docs/conventions.md, stated in counting/conventions.py). One rule, whatever type the
layer is written as, so the same operation written two ways (``type: depthwise`` or a
``conv`` whose groups equal its input channels) has the same three forms:

* ``as_specified`` — the layer as written, groups included.
* ``standard`` — every k×k convolution (k > 1) as the dense convolution (groups = 1) with
  the same input and output channels, kernel, stride, padding and dilation.
* ``separable`` — every k×k convolution (k > 1) as depthwise k×k with multiplier M (same
  stride, padding, dilation; ``Cin → Cin·M``) then pointwise 1×1 (``Cin·M → Cout``); with a
  bias only the pointwise has one (Keras ``SeparableConv2D``). A convolution that already is
  depthwise (groups = Cin > 1, ``Cout = Cin·M``) is its own separable form.

A 1×1 convolution has no spatial part to separate, and dense, pooling and add layers no
convolution: their three forms are the same operations (form "none").

A depthwise k×k that feeds one 1×1 convolution is one depthwise-separable convolution, whose
standard form is one dense k×k conv: a spec's ``depthwise`` then ``pointwise`` layers are
paired in :mod:`sepconv_cli.counting.pairing`; an inverted residual pairs its own depthwise
and projection here (unless a squeeze-and-excite stands between them).

Batch-norm, where declared, follows each convolution (``batch_norm: true``) or only the
layer's last one (``batch_norm: output``, as Xception's ``SeparableConv2D → BN``).

The channel widths (the width multiplier, an inverted residual's expanded width, a
squeeze-and-excite's squeeze) are :mod:`sepconv_cli.counting.widths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Literal

from sepconv_cli.counting.elementwise_layers import ELEMENTWISE_LAYERS
from sepconv_cli.counting.more_layers import MORE_LAYERS
from sepconv_cli.counting.ops import (
    Add,
    BatchNorm,
    Conv,
    ConvRole,
    Dense,
    LayerNorm,
    Op,
    Pool,
    PoolKind,
    Scale,
    Shuffle,
    SqueezeExcite,
)
from sepconv_cli.counting.sequence_layers import SEQUENCE_LAYERS
from sepconv_cli.counting.shapes import ShapeError, per_spatial_dim, resolve_padding
from sepconv_cli.counting.tables import lower_learned
from sepconv_cli.counting.tensor_layers import TENSOR_LAYERS
from sepconv_cli.counting.tensor_ops import Elementwise
from sepconv_cli.counting.widths import Width, expanded_width, scaled_groups, squeeze_width
from sepconv_cli.spec.fields import BatchNormMode
from sepconv_cli.spec.layers import LayerSpec, Padding
from sepconv_cli.units import shape_text

DeclaredForm = Literal["standard", "grouped", "separable", "depthwise", "none"]
"""Which form a layer is as written. It follows the operation, never the type it is written
as: "none" when its three forms are the same operations (any 1×1 convolution, ``pointwise``,
``dense``, ``pool``, ``global_pool``, ``squeeze_excite``, ``layer_norm``, ``layer_scale``,
``batch_norm``, ``pad``, ``elementwise``, ``prelu``, a residual block's add); otherwise
"depthwise" for a depthwise k×k (``type: depthwise``, or a ``conv`` with groups = input
channels > 1), "separable" for ``separable`` and ``inverted_residual``, "grouped" for a
``conv`` with 1 < groups < input channels (as written it is neither of the other two forms),
and "standard" for a dense ``conv`` (groups = 1)."""


@dataclass(frozen=True)
class Forms:
    declared: DeclaredForm  # the rule is DeclaredForm's docstring
    as_specified: tuple[Op, ...]
    standard: tuple[Op, ...]
    separable: tuple[Op, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.as_specified[-1].out_shape

    @property
    def as_specified_apart(self) -> bool:
        """True when the layer as written is neither of the other two forms (a grouped
        convolution): reports then show it as a form of its own."""
        return self.as_specified != self.standard and self.as_specified != self.separable


def _with_bn(ops: list[Op], mode: BatchNormMode, last: bool) -> list[Op]:
    if mode == "each" or (mode == "output" and last):
        ops.append(BatchNorm(ops[-1].out_shape))
    return ops


def window_conv(
    spec: LayerSpec,
    shape: tuple[int, ...],
    out: int,
    *,
    groups: int = 1,
    bias: bool = False,
    role: ConvRole = "conv",
    kernel: tuple[int, ...] | None = None,
    padding: Padding = "valid",
) -> Conv:
    """A k×k convolution with the spec's stride and dilation."""
    rank = len(shape) - 1
    k = per_spatial_dim(kernel or spec.kernel or (1,), rank, "kernel")
    s = per_spatial_dim(spec.stride or (1,), rank, "stride")
    d = per_spatial_dim(spec.dilation, rank, "dilation")
    pads = resolve_padding(padding, shape[:-1], k, s, d)
    if role == "conv" and groups == 1 and prod(k) == 1:
        role = "pointwise"  # a `conv, kernel: 1` is a pointwise conv: label it once, here
    elif role == "conv" and is_depthwise(shape[-1], groups):
        role = "depthwise"  # a `conv` with groups = Cin is a depthwise conv, whatever its type
    return Conv(shape, out, k, s, d, pads, groups=groups, bias=bias, role=role)


def dense_like(conv: Conv, out_channels: int, *, bias: bool = False) -> Conv:
    """The dense convolution (groups = 1) with ``conv``'s input, kernel, stride, dilation
    and padding, to ``out_channels``: the standard form of a depthwise-separable pair."""
    return Conv(
        conv.in_shape,
        out_channels,
        conv.kernel,
        conv.stride,
        conv.dilation,
        conv.pads,
        bias=bias,
        role="pointwise" if prod(conv.kernel) == 1 else "conv",
    )


def is_depthwise(in_channels: int, groups: int) -> bool:
    """A convolution is depthwise when each group is one input channel: groups = Cin > 1.
    (With groups = 1 it is dense, even on a single input channel.)"""
    return groups > 1 and groups == in_channels


def _one_by_one(
    shape: tuple[int, ...], out: int, *, bias: bool = False, stride: tuple[int, ...] = (1,)
) -> Conv:
    """A pointwise 1×1 convolution (no padding, no dilation)."""
    rank = len(shape) - 1
    ones = (1,) * rank
    s = per_spatial_dim(stride, rank, "stride")
    return Conv(shape, out, ones, s, ones, ((0, 0),) * rank, bias=bias, role="pointwise")


def separable_ops(
    spec: LayerSpec,
    shape: tuple[int, ...],
    filters: int,
    bias: bool,
    padding: Padding,
) -> list[Op]:
    """Depthwise k×k (multiplier M) → [BN] → pointwise 1×1 → [BN]."""
    cin = shape[-1]
    dw = window_conv(
        spec, shape, cin * spec.depth_multiplier, groups=cin, role="depthwise", padding=padding
    )
    ops = _with_bn([dw], spec.batch_norm, last=False)
    pw = _one_by_one(dw.out_shape, filters, bias=bias)
    return _with_bn([*ops, pw], spec.batch_norm, last=True)


@lru_cache(maxsize=4096)
def lower(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """The three forms of ``spec`` applied to an input of ``shape`` (channels-last).

    Cached: a model repeats the same layer at the same shape often, and forms are immutable.
    """
    if (
        spec.type in ("conv", "separable", "depthwise", "pointwise", "pool", "inverted_residual")
        and len(shape) < 2
    ):
        raise ShapeError(
            f"a {spec.type} layer needs a spatial input, got the flat shape "
            f"{shape_text(shape)} (after a dense or global_pool layer)",
            "input",
        )
    handler = _LOWERERS.get(spec.type)
    if handler is None:  # residual blocks are expanded by network.py, never lowered whole
        raise ShapeError(f"cannot lower a {spec.type} layer on its own", "type")
    forms = handler(spec, shape, width)
    # every operation's output shape now, in every form: an empty one (a dilation too wide
    # for the input) is a ShapeError naming this layer's field here, not later in counting,
    # where no caller knows which flag or file position to blame
    for ops in (forms.as_specified, forms.standard, forms.separable):
        for op in ops:
            op.out_shape  # noqa: B018 - the check is the computation
    return forms


def _lower_conv(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A ``conv`` as written (dense, grouped or depthwise), with the module's rule for its
    standard and separable forms."""
    filters = width.channels(spec.filters or 0, spec.width_floor)
    padding = spec.padding or "valid"
    bias = bool(spec.bias)
    groups = scaled_groups(spec, filters)
    conv = window_conv(spec, shape, filters, groups=groups, bias=bias, padding=padding)
    written = tuple(_with_bn([conv], spec.batch_norm, last=True))
    if prod(conv.kernel) == 1:
        return Forms("none", written, written, written)
    if conv.groups == 1:
        separable = tuple(separable_ops(spec, shape, filters, bias, padding))
        return Forms("standard", written, written, separable)
    dense = window_conv(spec, shape, filters, bias=bias, padding=padding)
    standard = tuple(_with_bn([dense], spec.batch_norm, last=True))
    if conv.role == "depthwise":
        _check_multiplier(spec, conv)
        return Forms("depthwise", written, standard, written)
    separable = tuple(separable_ops(spec, shape, filters, bias, padding))
    return Forms("grouped", written, standard, separable)


def _check_multiplier(spec: LayerSpec, conv: Conv) -> None:
    """A depthwise ``conv`` states its multiplier by its filters (``Cout = Cin·M``); a
    ``depth_multiplier`` beside it must agree (1, the default, is taken as unstated)."""
    written = conv.out_channels // conv.in_channels
    if spec.depth_multiplier not in (1, written):
        raise ShapeError(
            f"depth_multiplier {spec.depth_multiplier} disagrees with this conv, which is "
            f"already depthwise (groups = input channels = {conv.in_channels}) with "
            f"multiplier filters / groups = {conv.out_channels}/{conv.groups} = {written}",
            "depth_multiplier",
        )


def _lower_separable(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    filters = width.channels(spec.filters or 0, spec.width_floor)
    padding = spec.padding or "valid"
    bias = bool(spec.bias)
    separable = tuple(separable_ops(spec, shape, filters, bias, padding))
    full = window_conv(spec, shape, filters, bias=bias, padding=padding)
    if prod(full.kernel) == 1:
        # nothing spatial to separate: the depthwise 1×1 would only add work
        standard = tuple(_with_bn([full], spec.batch_norm, last=True))
        return Forms("none", standard, standard, standard)
    return Forms(
        "separable", separable, tuple(_with_bn([full], spec.batch_norm, last=True)), separable
    )


def _lower_depthwise(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    cin = shape[-1]
    out = cin * spec.depth_multiplier
    padding = spec.padding or "valid"
    bias = bool(spec.bias)
    dw = window_conv(spec, shape, out, groups=cin, bias=bias, role="depthwise", padding=padding)
    declared = tuple(_with_bn([dw], spec.batch_norm, last=True))
    if prod(dw.kernel) == 1:
        return Forms("none", declared, declared, declared)
    full = window_conv(spec, shape, out, bias=bias, padding=padding)
    return Forms(
        "depthwise", declared, tuple(_with_bn([full], spec.batch_norm, last=True)), declared
    )


def _lower_pointwise(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    filters = width.channels(spec.filters or 0, spec.width_floor)
    pw = _one_by_one(shape, filters, bias=bool(spec.bias), stride=spec.stride or (1,))
    ops = tuple(_with_bn([pw], spec.batch_norm, last=True))
    return Forms("none", ops, ops, ops)


def _lower_inverted_residual(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """MobileNetV2 bottleneck: [expand 1×1 → BN] → depthwise k×k, stride s → BN →
    [squeeze-and-excite] → project 1×1 → BN, plus the residual add when stride is 1 and
    channels match (MobileNetV3 and EfficientNet's MBConv when it has an SE).

    The expanded width is :func:`expanded_width`; the expansion is skipped when it equals
    the input width (or t = 1). The depthwise and the projection are one depthwise-separable
    convolution (the pairs rule, :mod:`sepconv_cli.counting.pairing`): the standard form
    replaces both by one dense k×k conv from the expanded width to the output channels, with
    the projection's batch-norm. With a squeeze-and-excite between them they are not a pair:
    the standard form replaces the depthwise alone by a dense k×k conv on the expanded width,
    and the squeeze-and-excite is the same in every form.
    """
    cin = shape[-1]
    filters = width.channels(spec.filters or 0, spec.width_floor)
    hidden = expanded_width(spec, cin, width)
    kernel = spec.kernel or (3,)
    padding = spec.padding or "same"
    bn = spec.batch_norm  # "each", "output" (after the projection only) or "none"
    head: list[Op] = []
    if hidden != cin or (spec.expanded is None and spec.expansion != 1):
        head = _with_bn([_one_by_one(shape, hidden)], bn, last=False)
    mid_shape = head[-1].out_shape if head else shape
    dw = window_conv(
        spec, mid_shape, hidden, groups=hidden, role="depthwise", kernel=kernel, padding=padding
    )
    squeeze = squeeze_width(spec, cin, hidden, width)

    def tail(middle: Conv) -> tuple[Op, ...]:
        ops = _with_bn([*head, middle], bn, last=False)
        if squeeze is not None:
            ops.append(SqueezeExcite(middle.out_shape, squeeze))
        ops = _with_bn([*ops, _one_by_one(middle.out_shape, filters)], bn, last=True)
        return with_add(ops)

    def with_add(ops: list[Op]) -> tuple[Op, ...]:
        if spec.residual and ops[-1].out_shape == shape:
            ops.append(Add(shape))
        return tuple(ops)

    separable = tail(dw)
    if squeeze is None and prod(dw.kernel) > 1:
        # the depthwise feeds the projection alone: one depthwise-separable convolution,
        # whose standard form is one dense k×k conv from the expanded width to the output
        standard = with_add(_with_bn([*head, dense_like(dw, filters)], bn, last=True))
    else:  # a squeeze-and-excite between them (or a 1×1): the depthwise alone is dense
        standard = tail(window_conv(spec, mid_shape, hidden, kernel=kernel, padding=padding))
    return Forms("separable", separable, standard, separable)


def _lower_dense(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    ops = (Dense(shape, spec.units or 0, bias=True if spec.bias is None else spec.bias),)
    return Forms("none", ops, ops, ops)


def _lower_pool(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    rank = len(shape) - 1
    mode: PoolKind = "avg" if spec.mode == "avg" else "max"
    if spec.output_size is not None:  # adaptive: torch's windows, no kernel or stride
        size = per_spatial_dim(spec.output_size, rank, "output_size")
        ones = (1,) * rank
        pool = Pool(shape, mode, ones, ones, ((0, 0),) * rank, output_size=size)
        return Forms("none", (pool,), (pool,), (pool,))
    kernel = per_spatial_dim(spec.kernel or (1,), rank, "kernel")
    stride = per_spatial_dim(spec.stride or kernel, rank, "stride")
    padding = spec.padding or "valid"
    pads = resolve_padding(padding, shape[:-1], kernel, stride, (1,) * rank)
    if not isinstance(padding, str) and any(
        2 * p > k for pair, k in zip(pads, kernel, strict=True) for p in pair
    ):
        raise ShapeError("pool padding must be at most half the kernel", "padding")
    ops = (Pool(shape, mode, kernel, stride, pads, ceil_mode=spec.ceil_mode),)
    return Forms("none", ops, ops, ops)


def _lower_global_pool(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    if len(shape) < 2:
        raise ShapeError(f"global_pool needs a spatial input, got {shape_text(shape)}", "input")
    rank = len(shape) - 1
    mode: PoolKind = "max" if spec.mode == "max" else "avg"
    ops = (Pool(shape, mode, shape[:-1], shape[:-1], ((0, 0),) * rank, global_=True),)
    return Forms("none", ops, ops, ops)


def _lower_shuffle(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A channel shuffle: one form (it moves bytes only)."""
    ops = (Shuffle(shape, spec.groups),)
    return Forms("none", ops, ops, ops)


def _lower_squeeze_excite(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A squeeze-and-excite block on its own: one op, the same in every form."""
    if len(shape) < 2:
        raise ShapeError(
            f"a squeeze_excite layer needs a spatial input, got the flat shape "
            f"{shape_text(shape)} (after a dense or global_pool layer)",
            "input",
        )
    squeeze = squeeze_width(spec, shape[-1], shape[-1], width)
    ops = (SqueezeExcite(shape, squeeze or 0),)
    return Forms("none", ops, ops, ops)


def _lower_layer_norm(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A layer norm over the channels (ConvNeXt's, on channels-last tensors): a learned
    scale, and a bias unless ``bias: false``; one form."""
    bias = True if spec.bias is None else spec.bias
    ops = (LayerNorm(shape, shape[-1], scale=True, bias=bias),)
    return Forms("none", ops, ops, ops)


def _lower_layer_scale(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A learned per-channel scale (ConvNeXt's ``layer_scale``, CaiT's): C parameters, one
    multiply per value; one form."""
    ops = (Scale(shape, params=shape[-1]),)
    return Forms("none", ops, ops, ops)


def _lower_batch_norm(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A batch-norm of its own: a per-channel scale and shift, 2 parameters per channel;
    one form."""
    ops = (BatchNorm(shape),)
    return Forms("none", ops, ops, ops)


def _lower_elementwise(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """Arithmetic with a constant (``operation``: one FLOP per value, no MACs, no
    parameters), or nothing but the layer's activation (its FLOPs counted apart); one
    form."""
    flops = 0 if spec.operation is None else 1
    ops = (Elementwise(shape, shape, spec.operation or "identity", flops),)
    return Forms("none", ops, ops, ops)


def _lower_prelu(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A PReLU: ``max(x, 0) + a·min(x, 0)`` with a learned slope ``a`` per channel: C
    parameters, 2 FLOPs per value (the multiply, the max), no MACs; one form."""
    ops = (Elementwise(shape, shape, "prelu", 2, params=shape[-1]),)
    return Forms("none", ops, ops, ops)


_LOWERERS = {
    "conv": _lower_conv,
    "separable": _lower_separable,
    "depthwise": _lower_depthwise,
    "pointwise": _lower_pointwise,
    "inverted_residual": _lower_inverted_residual,
    "squeeze_excite": _lower_squeeze_excite,
    "shuffle": _lower_shuffle,
    "dense": _lower_dense,
    "pool": _lower_pool,
    "global_pool": _lower_global_pool,
    "layer_norm": _lower_layer_norm,
    "layer_scale": _lower_layer_scale,
    "batch_norm": _lower_batch_norm,
    "elementwise": _lower_elementwise,
    "prelu": _lower_prelu,
}


def _lower_one_form(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """Recurrent layers and resizes: one form each (counting/sequence_layers.py)."""
    ops = SEQUENCE_LAYERS[spec.type](spec, shape)
    return Forms("none", ops, ops, ops)


_LOWERERS |= dict.fromkeys(SEQUENCE_LAYERS, _lower_one_form)


def _lower_tensor_layer(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """Reshape, transpose, slice, softmax: one form each (counting/tensor_layers.py)."""
    ops = TENSOR_LAYERS[spec.type](spec, shape)
    return Forms("none", ops, ops, ops)


_LOWERERS |= dict.fromkeys(TENSOR_LAYERS, _lower_tensor_layer)


def _lower_more(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """Reduce, conv_transpose, depth_to_space, pad: one form each
    (counting/more_layers.py)."""
    ops = MORE_LAYERS[spec.type](spec, shape, width)
    return Forms("none", ops, ops, ops)


_LOWERERS |= dict.fromkeys(MORE_LAYERS, _lower_more)


def _lower_elementwise_more(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """Expand: one form (counting/elementwise_layers.py)."""
    ops = ELEMENTWISE_LAYERS[spec.type](spec, shape, width)
    return Forms("none", ops, ops, ops)


_LOWERERS |= dict.fromkeys(ELEMENTWISE_LAYERS, _lower_elementwise_more)


def _lower_learned(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> Forms:
    """A learned table added or multiplied: one form (counting/tables.py)."""
    ops = lower_learned(spec, shape, width)
    return Forms("none", ops, ops, ops)


_LOWERERS["learned"] = _lower_learned
