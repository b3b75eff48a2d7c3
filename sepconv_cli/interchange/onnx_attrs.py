"""What every ONNX shape rule reads and raises, apart from the rules themselves: a node's
attributes (:func:`attributes`, :func:`text_attribute`), NumPy's broadcasting
(:func:`broadcast`, :func:`matmul_shape`), an axis counted from either end (:func:`axis_of`),
and the errors a rule raises (:class:`NodeShapeError`, :class:`MalformedNode`).

It imports no other module of the ONNX reader, so the fold planner (:mod:`onnx_fold_size`,
:mod:`onnx_fold_rules`) and the walk (:mod:`onnx_shapes`, :mod:`onnx_shape_rules`) share it
without an import cycle. Shapes are tuples of Python ints: a product never wraps.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange.optional import require_onnx


class NodeShapeError(Exception):
    """A node whose output shape cannot be computed (message says why)."""


class MalformedNode(NodeShapeError):
    """A node whose inputs and attributes contradict each other (shapes that do not
    broadcast, a product's inner dims that differ): the file is broken, and is refused."""


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes by name, as Python values (memoized per node: read several times
    per node). The dict is shared: never change it."""
    key = id(node)
    hit = _ATTRIBUTES.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    value = require_onnx().helper.get_attribute_value
    found = {a.name: value(a) for a in node.attribute}
    _ATTRIBUTES[key] = (node, found)
    return found


_ATTRIBUTES: dict[int, tuple[Any, dict[str, Any]]] = {}


def text(value: Any) -> str:
    """A string attribute's value as text ("" for None)."""
    return value.decode() if isinstance(value, bytes) else str(value or "")


def text_attribute(node: Any, name: str, default: str) -> str:
    """``node``'s string attribute ``name`` as text, or ``default``."""
    return text(attributes(node).get(name, default))


def axis_of(axis: int, rank: int) -> int:
    """``axis`` of a tensor of ``rank`` dims, counted from 0 (ONNX lets it count from the
    end); one out of range is a broken node."""
    if not -rank <= axis < rank:
        raise MalformedNode(f"axis {axis} is out of range for a tensor of {rank} dim(s)")
    return axis + rank if axis < 0 else axis


def broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's (and ONNX's multidirectional) broadcasting of ``shapes``."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        sizes = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise MalformedNode(f"inputs {' and '.join(map(str, shapes))} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``numpy.matmul``'s output shape (1-D operands promoted and dropped again)."""
    if not a or not b:
        raise MalformedNode(f"a matrix product of a scalar: {a} × {b}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise MalformedNode(f"inner dims differ: {a} × {b}")
    out = (*broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out
