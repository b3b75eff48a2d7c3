"""The tensor layers of a spec (issue 21): a feature map made tokens and back (``reshape``,
``transpose``), cropped (``slice``), attention's scores normalized (``softmax``), and the
product of two computed tensors that closes a ``branches`` block with ``merge: matmul``.

Rules (the counts are the ONNX reader's for the same nodes, so a model file written as a
spec counts what the file counts):

- Shapes are per sample, channels-last as every spec shape (the last dim is the channels);
  an axis may be negative, counted from the end. A tensor whose leading dim folds windows
  or patches (MobileViT's ``(4, 256, 64)``) is one sample's tensor of that shape: every
  layer counts it whole, as the reader counts a node on its leading dim's items.
- ``reshape``, ``transpose`` and ``slice`` only move data: no MACs, no FLOPs, no
  parameters, no bytes (a :class:`~sepconv_cli.counting.channel_ops.Passthrough`, as the
  reader counts a ``Reshape``, ``Transpose`` or ``Slice``). A reshape keeps the number of
  values; a transpose's ``perm`` names every dim once; a slice keeps, along each of its
  axes, the indices ``range(start, end, step)`` (Python's and ONNX's rule: a negative
  bound counts from the end, a bound past an end is clamped to it) and must keep one.
- ``softmax`` normalizes along ``axis`` (default the last): no MACs, no parameters, the
  softmax activation's 5 FLOPs per value (the max, the subtraction, the exponential, the
  sum, the division), in the layer's FLOPs.
- ``merge: matmul`` multiplies the first branch's output by the second's as NumPy's
  ``matmul`` does: ``(…, M, K) · (…, K, N) → (…, M, N)``, the leading dims broadcast
  (equal, or 1 where they differ). ``M·N·K`` MACs for each of the leading dims' items,
  ``2·MACs`` FLOPs, no parameters (the reader's rule for a ``MatMul`` of two computed
  tensors: attention's ``Q·Kᵀ`` and ``A·V``).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from sepconv_cli.counting.ops import Op, Passthrough
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.tensor_ops import Elementwise, Product
from sepconv_cli.spec.layers import LayerSpec, SpecError
from sepconv_cli.units import shape_text

SOFTMAX_FLOPS = 5
"""FLOPs per value of a ``softmax`` layer: the softmax activation's (counting/ops.py)."""


def _axis(axis: int, rank: int, key: str = "axis") -> int:
    """``axis`` as a dim of a rank-``rank`` tensor (negative: from the end)."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is outside a tensor of {rank} dims", key)
    return axis % rank


def lower_reshape(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """The same values in the shape ``shape``: nothing counted."""
    target = tuple(spec.shape or ())
    if prod(target) != prod(shape):
        raise ShapeError(
            f"reshape to {shape_text(target)} needs {prod(target):,} values, but its input "
            f"{shape_text(shape)} holds {prod(shape):,}",
            "shape",
        )
    return (Passthrough(shape, target),)


def lower_transpose(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """The dims in the order ``perm`` names them: nothing counted."""
    perm = tuple(spec.perm or ())
    if len(perm) != len(shape):
        raise ShapeError(
            f"perm names {len(perm)} dims, but the input {shape_text(shape)} has {len(shape)}",
            "perm",
        )
    return (Passthrough(shape, tuple(shape[p] for p in perm)),)


def lower_slice(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """Along each axis the indices ``range(start, end, step)``: nothing counted."""
    axes, starts, ends = spec.axis or (), spec.start or (), spec.end or ()
    steps = spec.step or (1,) * len(axes)
    for key, values in (("start", starts), ("end", ends), ("step", steps)):
        if len(values) != len(axes):
            raise ShapeError(
                f"{key} has {len(values)} values, but axis names {len(axes)} axes", key
            )
    out = list(shape)
    seen: set[int] = set()
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        dim = _axis(axis, len(shape))
        if dim in seen:
            raise ShapeError(f"axis {axis} is dim {dim} again", "axis")
        seen.add(dim)
        kept = len(range(*slice(start, end, step).indices(shape[dim])))
        if kept == 0:
            raise ShapeError(
                f"start {start}, end {end} keep nothing of dim {dim} (size {shape[dim]})",
                "start",
            )
        out[dim] = kept
    return (Passthrough(shape, tuple(out)),)


def lower_softmax(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[Op, ...]:
    """A softmax along one axis: 5 FLOPs per value, no MACs, no parameters."""
    axes = spec.axis or (-1,)
    if len(axes) != 1:
        raise ShapeError(f"a softmax has one axis, got {len(axes)}", "axis")
    _axis(axes[0], len(shape))
    return (Elementwise(shape, shape, "softmax", SOFTMAX_FLOPS),)


TENSOR_LAYERS: dict[str, Callable[[LayerSpec, tuple[int, ...]], tuple[Op, ...]]] = {
    "reshape": lower_reshape,
    "transpose": lower_transpose,
    "slice": lower_slice,
    "softmax": lower_softmax,
}
"""Each tensor layer type's one form (joined to :mod:`~sepconv_cli.counting.lowering`'s)."""


def matmul_ops(outs: list[tuple[int, ...]], layer: LayerSpec) -> tuple[Op, ...]:
    """A ``merge: matmul`` of two branches' outputs: one :class:`Product`; a SpecError at
    the block's ``merge`` when the shapes do not multiply."""
    where = layer.locate("merge")
    if len(outs) != 2:
        raise SpecError(f"{where}: matmul multiplies two branches, got {len(outs)}")
    a, b = outs
    if len(a) < 2 or len(b) < 2:
        raise SpecError(
            f"{where}: matmul needs two tensors of 2 dims or more, got {shape_text(a)} and "
            f"{shape_text(b)}"
        )
    if a[-1] != b[-2]:
        raise SpecError(
            f"{where}: matmul of {shape_text(a)} by {shape_text(b)}: the first's last dim "
            f"({a[-1]}) must equal the second's next-to-last ({b[-2]})"
        )
    rank = max(len(a), len(b))
    lead_a = (1,) * (rank - len(a)) + a[:-2]
    lead_b = (1,) * (rank - len(b)) + b[:-2]
    lead = []
    for x, y in zip(lead_a, lead_b, strict=True):
        if x != y and 1 not in (x, y):
            raise SpecError(
                f"{where}: matmul of {shape_text(a)} by {shape_text(b)}: their leading dims "
                "do not broadcast (equal, or 1 where they differ)"
            )
        lead.append(max(x, y))
    out = (*lead, a[-2], b[-1])
    return (Product(a, out, a[-1], prod(a) + prod(b)),)
