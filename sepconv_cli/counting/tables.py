"""A learned table added to (or multiplying) a tensor, and a concat along a dim other than
the channels (:mod:`sepconv_cli.spec.table_fields` states the keys), each of one form and
counted as the ONNX reader counts the node it is:

- ``learned`` (``shape``, ``operation``): the input plus (or times) a learned tensor of
  ``shape``, broadcast as NumPy broadcasts (aligned at the last dim; each dim equal or 1;
  the table has at most the input's dims). The reader's ``Add``/``Mul`` of an initializer
  of more than one value (``onnx_nodes._elementwise``): no MACs, one FLOP per output value,
  the table's values as parameters, read once as weights: an
  :class:`~sepconv_cli.counting.tensor_ops.Elementwise` with ``params``.
- ``concat`` with an ``axis`` other than the channels (the last dim): the named tensors
  joined along that dim (every other dim equal). The reader counts a ``Concat`` along
  anything but ONNX's channel axis as data movement, nothing (``onnx_nodes._concat``): a
  :class:`~sepconv_cli.counting.ops.Passthrough`. Along the channels it is the usual
  concat row.
"""

from __future__ import annotations

from math import prod

from sepconv_cli.counting.ops import Op, Passthrough
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.tensor_ops import Elementwise
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec
from sepconv_cli.units import shape_text


def broadcast(shape: tuple[int, ...], table: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast of ``shape`` and a ``table`` of at most as many dims.

    >>> broadcast((4, 4, 8), (8,)), broadcast((1, 8, 49, 49), (8, 49, 49))
    ((4, 4, 8), (1, 8, 49, 49))
    """
    if len(table) > len(shape):
        raise ShapeError(
            f"the table {shape_text(table)} has more dims than its input {shape_text(shape)}",
            "shape",
        )
    padded = (1,) * (len(shape) - len(table)) + tuple(table)
    out = []
    for n, t in zip(shape, padded, strict=True):
        if n != t and 1 not in (n, t):
            raise ShapeError(
                f"the table {shape_text(table)} does not broadcast against the input "
                f"{shape_text(shape)} (each dim, aligned at the channels, equal or 1)",
                "shape",
            )
        out.append(max(n, t))
    return tuple(out)


def lower_learned(spec: LayerSpec, shape: tuple[int, ...], width: Width) -> tuple[Op, ...]:
    """The input plus (or times) its learned table: one FLOP per output value."""
    table = spec.shape or ()
    out = broadcast(shape, table)
    return (Elementwise(shape, out, spec.operation or "add", 1, prod(table)),)


def concat_axis(spec: LayerSpec, shapes: list[tuple[int, ...]]) -> int | None:
    """The dim a ``concat`` joins along when it is not the channels (the last), else None;
    a ShapeError for an axis outside the tensors or tensors that differ elsewhere."""
    if not spec.axis:
        return None
    rank = len(shapes[0])
    if rank < 2:
        raise ShapeError(f"a concat joins tensors of 2 or more dims, got {rank}", "from")
    axis = spec.axis[0]
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is outside a tensor of {rank} dims", "axis")
    axis %= rank
    if axis == rank - 1:
        return None
    others = {(len(s), s[:axis] + s[axis + 1 :]) for s in shapes}
    if len(others) != 1:
        listed = ", ".join(shape_text(s) for s in shapes)
        raise ShapeError(f"a concat along dim {axis} needs equal other dims, got {listed}", "from")
    return axis


def axis_concat(shapes: list[tuple[int, ...]], axis: int) -> Passthrough:
    """The concat of ``shapes`` along ``axis``: data movement, nothing counted."""
    first = shapes[0]
    out = (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :])
    return Passthrough(first, out)
