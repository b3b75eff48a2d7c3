"""The layers real mobile networks add (issue 21 item 5) as operations, each of one form
and counted exactly as the ONNX reader counts the node it is, so a model file written as a
spec counts what the file counts:

- ``reduce`` (``reduction`` over ``axis``, ``keepdims``): ONNX's ``ReduceSum``,
  ``ReduceMean``, ``ReduceL2``... One FLOP per input value (the add or compare that folds
  it in), no MACs, no parameters: the reader's reduction rule (a
  :class:`~sepconv_cli.counting.tensor_ops.Reduce`). The reduced dims become 1, or go
  with ``keepdims: false``; at least one dim must stay.
- ``conv_transpose`` (``kernel``, ``filters``, ``stride``, ``padding``,
  ``output_padding``, ``dilation``, ``groups``, ``bias``): each input value times a
  ``filters/groups × prod(kernel)`` slice of the weight, scattered into the output, so
  ``prod(in) · (filters/groups) · prod(kernel)`` MACs per item whatever the stride and
  padding; parameters ``Cin · (filters/groups) · prod(kernel)`` plus ``filters`` with a
  bias; FLOPs ``2·MACs`` plus one per output value with a bias (the reader's
  ``ConvTranspose``, :class:`~sepconv_cli.counting.ops.ConvTranspose`). Each output dim
  is ``stride·(n − 1) + output_padding + dilation·(kernel − 1) + 1 − pads`` (ONNX's), or
  ``n · stride`` with ``padding: same``. One form: a transposed convolution has no
  separable what-if here, as the reader has none. ``filters`` follows the width
  multiplier as a conv's does; ``groups`` must divide both channel counts.
- ``depth_to_space`` (``block_size`` b, ``order``): ``[*spatial, C]`` →
  ``[*spatial·b, C / b^d]`` (d spatial dims). Data movement: nothing counted, as the
  reader counts a ``DepthToSpace``.
- ``pad`` with ``channels: [before, after]`` adds that many channels (MediaPipe's
  ``channel_padding``), beside its spatial ``padding``: nothing counted, as the reader
  counts a ``Pad``.
"""

from __future__ import annotations

from collections.abc import Callable

from sepconv_cli.counting.ops import ConvTranspose, Op, Passthrough
from sepconv_cli.counting.shapes import ShapeError, per_spatial_dim, resolve_padding
from sepconv_cli.counting.tensor_ops import Reduce
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.units import shape_text


def _spatial(spec: LayerSpec, shape: tuple[int, ...]) -> int:
    """The input's spatial rank; a ShapeError for a flat input."""
    if len(shape) < 2:
        raise ShapeError(
            f"a {spec.type} layer needs a spatial input, got {shape_text(shape)}", "input"
        )
    return len(shape) - 1


def lower_reduce(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """A reduction over ``axis``: one FLOP per input value."""
    rank = len(shape)
    dims: set[int] = set()
    for axis in spec.axis or ():
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is outside a tensor of {rank} dims", "axis")
        if axis % rank in dims:
            raise ShapeError(f"axis {axis} is dim {axis % rank} again", "axis")
        dims.add(axis % rank)
    if spec.keepdims:
        out = tuple(1 if i in dims else n for i, n in enumerate(shape))
    else:
        out = tuple(n for i, n in enumerate(shape) if i not in dims)
    if not out:
        raise ShapeError(
            f"a reduce of every dim of {shape_text(shape)} without keepdims leaves no dim",
            "keepdims",
        )
    return (Reduce(shape, out, str(spec.reduction)),)


def transposed_size(n: int, k: int, s: int, d: int, extra: int, pads: tuple[int, int]) -> int:
    """One output dim of a transposed convolution (ONNX's rule).

    >>> transposed_size(5, 2, 2, 1, 0, (0, 0)), transposed_size(5, 3, 2, 1, 1, (1, 1))
    (10, 10)
    """
    return s * (n - 1) + extra + (k - 1) * d + 1 - pads[0] - pads[1]


def lower_conv_transpose(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """A transposed convolution: one :class:`ConvTranspose`."""
    rank = _spatial(spec, shape)
    kernel = per_spatial_dim(spec.kernel or (1,), rank, "kernel")
    stride = per_spatial_dim(spec.stride or (1,), rank, "stride")
    dilation = per_spatial_dim(spec.dilation or (1,), rank, "dilation")
    extra = per_spatial_dim(spec.output_padding or (0,), rank, "output_padding")
    cin, filters, groups = shape[-1], width.channels(spec.filters or 0), spec.groups
    for count, what in ((cin, "input channels"), (filters, "filters")):
        if count % groups:
            raise ShapeError(f"groups {groups} does not divide the {count} {what}", "groups")
    for e, s, d in zip(extra, stride, dilation, strict=True):
        if e >= max(s, d):  # ONNX's and torch's rule: it picks one of the stride's offsets
            raise ShapeError(
                f"output_padding {e} must be less than the stride or the dilation", "output_padding"
            )
    padding = spec.padding or "valid"
    if padding == "same":  # ONNX's SAME_UPPER and SAME_LOWER: the input times the stride
        out = tuple(n * s for n, s in zip(shape[:-1], stride, strict=True))
    else:
        ones = (1,) * rank
        pads = resolve_padding(padding, shape[:-1], ones, ones, ones)
        out = tuple(
            transposed_size(*args)
            for args in zip(shape[:-1], kernel, stride, dilation, extra, pads, strict=True)
        )
    if min(out) < 1:
        raise ShapeError(
            f"the padding leaves an empty output {shape_text((*out, filters))}", "padding"
        )
    return (ConvTranspose(shape, filters, kernel, out, groups, bool(spec.bias)),)


def lower_depth_to_space(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """The channels moved into ``block_size``-sided spatial blocks: nothing counted."""
    rank = _spatial(spec, shape)
    block = spec.block_size or 1
    cells = block**rank
    if shape[-1] % cells:
        raise ShapeError(
            f"{shape[-1]} channels do not fill blocks of {block}^{rank} = {cells} values",
            "block_size",
        )
    out = (*(n * block for n in shape[:-1]), shape[-1] // cells)
    return (Passthrough(shape, out),)


def lower_pad(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """An explicit pad of the spatial dims (``padding``) and the channels (``channels``):
    a larger tensor, nothing counted."""
    rank = _spatial(spec, shape)
    ones = (1,) * rank
    pads = resolve_padding(spec.padding or "valid", shape[:-1], ones, ones, ones)
    before, after = spec.channels or (0, 0)
    spatial = (n + b + a for n, (b, a) in zip(shape[:-1], pads, strict=True))
    out = (*spatial, shape[-1] + before + after)
    return (Passthrough(shape, out),)


MORE_LAYERS: dict[str, Callable[[LayerSpec, tuple[int, ...], Width], tuple[Op, ...]]] = {
    "reduce": lower_reduce,
    "conv_transpose": lower_conv_transpose,
    "depth_to_space": lower_depth_to_space,
    "pad": lower_pad,
}
"""Each type's one form (joined to :mod:`~sepconv_cli.counting.lowering`'s)."""
