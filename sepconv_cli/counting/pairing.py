"""A depthwise k×k convolution and the 1×1 convolution it feeds: one depthwise-separable
convolution (the rule is ``PAIRS`` in :mod:`sepconv_cli.counting.conventions`).

A depthwise k×k (k > 1) whose output goes only into one 1×1 convolution (groups 1, stride
1, no padding), through at most its own batch-norm, its activation and a layer norm, is
counted as one row of type ``separable`` whose three forms are:

* ``as_specified`` and ``separable``: the two convolutions as written, with their norms;
* ``standard``: one dense k×k convolution (groups 1) with the depthwise's input, kernel,
  stride, padding and dilation, to the pointwise's output channels, with the pointwise's
  bias and batch-norm. The depthwise's bias and batch-norm and the layer norm between
  have no place in it (as a ``separable`` layer's standard form has none).

The activations of both stay on the row: the pointwise's follows the row's output
(``Row.activation``), the depthwise's its depthwise output (``Row.inner_activation``); both
are counted in every form (conventions: activation functions).

Two callers, one rule:

* :func:`lower_pair` — the forms of a pair given as its two layer specs (and the layer
  norm op between them, if any): what the ONNX reader calls for a depthwise ``Conv`` read
  only by a 1×1 ``Conv`` (or a ``MatMul`` on tokens).
* :func:`spec_pair` — whether a spec's layer list pairs the layer at a position with the
  next (``depthwise`` then ``pointwise``, or ``depthwise``, ``layer_norm``, ``pointwise``):
  the network builder and ``sepconv export``'s walk.

An inverted residual pairs its own depthwise and projection in
:mod:`sepconv_cli.counting.lowering`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import prod

from sepconv_cli.counting.lowering import Forms, dense_like, lower
from sepconv_cli.counting.ops import BatchNorm, Conv, LayerNorm, Op
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec

PAIR_TYPE = "separable"
"""The row type of a pair: it is a depthwise-separable convolution, as a ``separable``
layer is."""
SEPARATOR = "+"
"""Joins the names of the spec layers a pair's row stands for (``dw+pw``)."""


@lru_cache(maxsize=4096)
def lower_pair(
    depthwise: LayerSpec,
    pointwise: LayerSpec,
    shape: tuple[int, ...],
    *,
    norm: LayerNorm | None = None,
    width: Width | None = None,
) -> Forms | None:
    """The three forms of ``depthwise`` (applied to ``shape``, channels-last) followed by
    ``pointwise`` as one depthwise-separable convolution, or None when they are not one.

    ``depthwise``: a layer spec that lowers to a depthwise k×k convolution, k > 1 (``type:
    depthwise``, or ``type: conv`` with groups = its input channels), with or without
    ``batch_norm``, bias, a depth multiplier. ``pointwise``: a layer spec that lowers, on
    the depthwise's output, to one 1×1 convolution with groups 1, stride 1 and no padding
    (``type: pointwise``, or ``type: conv`` with kernel 1), with or without ``batch_norm``
    and bias. ``norm``: a layer norm op on the depthwise's output (its ``in_shape`` equal to
    the depthwise's channels-last output shape), counted between them in the
    ``as_specified`` and ``separable`` forms. The specs' ``activation`` is not read here:
    the caller puts the pointwise's on ``Row.activation`` and the depthwise's on
    ``Row.inner_activation``. ``width`` scales the pointwise's filters as :func:`lower`
    does (default: none).

    None (the caller keeps the two rows) when the depthwise is not a depthwise k×k, the
    pointwise not such a 1×1 of the depthwise's output channels, or the norm not on the
    depthwise's output. A spec that does not fit its input raises :class:`ShapeError`, as
    :func:`lower` does. Cached, as :func:`lower` is: equal arguments give the same forms.
    """
    width = width or Width()
    first = lower(depthwise, shape, width)
    if first.declared != "depthwise":
        return None
    dw_ops = first.as_specified
    middle = first.out_shape
    if norm is not None and norm.in_shape != middle:
        return None
    pw_ops = lower(pointwise, middle, width).as_specified
    pw = pw_ops[0]
    if not (isinstance(pw, Conv) and _plain_pointwise(pw)):
        return None
    if not all(isinstance(op, BatchNorm) for op in (*dw_ops[1:], *pw_ops[1:])):
        return None
    written: tuple[Op, ...] = (*dw_ops, *((norm,) if norm is not None else ()), *pw_ops)
    dw = dw_ops[0]
    assert isinstance(dw, Conv)
    standard = (dense_like(dw, pw.out_channels, bias=pw.bias), *pw_ops[1:])
    return Forms("separable", written, standard, written)


def _plain_pointwise(conv: Conv) -> bool:
    """A dense 1×1 that keeps the spatial size: groups 1, stride 1, no padding."""
    return (
        prod(conv.kernel) == 1
        and conv.groups == 1
        and all(s == 1 for s in conv.stride)
        and all(pair == (0, 0) for pair in conv.pads)
    )


@dataclass(frozen=True)
class Pair:
    """Consecutive layers of a spec that make one depthwise-separable row."""

    depthwise: LayerSpec
    norm: LayerSpec | None
    pointwise: LayerSpec
    forms: Forms

    @property
    def span(self) -> int:
        """How many layers of the list the row stands for: 2, or 3 with a layer norm."""
        return 2 if self.norm is None else 3

    def name(self, prefix: str, position: int) -> str:
        """The row's name: its layers' names (a layer's default ``<type>_<position>``)
        joined by ``+``, after the block's prefix: ``block.dw+pw``."""
        layers = [self.depthwise, *([self.norm] if self.norm else []), self.pointwise]
        names = (layer.name or f"{layer.type}_{position + i}" for i, layer in enumerate(layers))
        return prefix + SEPARATOR.join(names)


def spec_pair(
    layers: Sequence[LayerSpec], position: int, shape: tuple[int, ...], width: Width
) -> Pair | None:
    """The pair that ``layers[position]`` (applied to ``shape``) starts, or None.

    The layers pair when, in this one list (a model's layers, a residual block's main path
    or shortcut, a branch): ``layers[position]`` is a depthwise k×k (``depthwise``, or a
    ``conv`` whose groups equal its input channels), the next layer is a ``pointwise`` or a
    ``conv`` with kernel 1 (groups 1, stride 1, no padding), optionally with one
    ``layer_norm`` without an activation between them, and none of them has a ``repeat``
    other than 1. A depthwise followed by anything else (a ``squeeze_excite``, a pool, a
    ``residual`` or ``branches`` block, whose input also feeds a shortcut or another
    branch) or last in its list is not paired. A layer that does not fit its input is not
    paired either: lowered on its own it raises the error at its own position.
    """
    depthwise = layers[position]
    if depthwise.type not in ("depthwise", "conv") or depthwise.repeat != 1:
        return None
    after = position + 1
    norm_spec: LayerSpec | None = None
    if after < len(layers) and layers[after].type == "layer_norm":
        norm_spec = layers[after]
        if norm_spec.repeat != 1 or norm_spec.activation != "none":
            return None
        after += 1
    if after >= len(layers):
        return None
    pointwise = layers[after]
    if pointwise.type not in ("pointwise", "conv") or pointwise.repeat != 1:
        return None
    try:
        norm = None
        if norm_spec is not None:
            middle = lower(depthwise, shape, width).out_shape
            (op,) = lower(norm_spec, middle, width).as_specified
            assert isinstance(op, LayerNorm)
            norm = op
        forms = lower_pair(depthwise, pointwise, shape, norm=norm, width=width)
    except ShapeError:
        return None
    return None if forms is None else Pair(depthwise, norm_spec, pointwise, forms)
