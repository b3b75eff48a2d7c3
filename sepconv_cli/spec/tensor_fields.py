"""The keys of the tensor layers (issue 21): ``reshape``, ``transpose``, ``slice`` and
``softmax``, the layers that turn a feature map into tokens and back, crop it, and
normalize attention scores.

Every value is per sample: the batch is never written, and a tensor's dims are its shape
as the spec holds it (channels-last: the last dim is the channels). An axis may be
negative, counted from the end, as in NumPy and ONNX. The checks against the input's shape
(the product a reshape keeps, a permutation of every dim, an axis inside the rank) are the
lowering's (:mod:`sepconv_cli.counting.tensor_layers`): only there is the shape known.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.spec.fields import MAX_SIZE, FieldError, describe, positive_int

MAX_RANK = 8
"""The most dims a tensor layer's shape may have (per sample): TinyViT's window partition
holds six."""


def _integer(value: Any) -> int:
    """An int (not a boolean, not a float), at most ``MAX_SIZE`` from 0 either way."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"expected an integer, got {describe(value)}")
    if abs(value) > MAX_SIZE:
        raise FieldError(f"{value} is beyond the limit of {MAX_SIZE:,} either way")
    return value


def _int_list(value: Any, what: str) -> list[Any]:
    """One int (a list of one) or a list of 1 to ``MAX_RANK`` of them."""
    items = value if isinstance(value, list) else [value]
    if not 1 <= len(items) <= MAX_RANK:
        raise FieldError(f"expected 1 to {MAX_RANK} {what}, got {len(items)}: {describe(value)}")
    return items


def target_shape(value: Any) -> tuple[int, ...]:
    """A ``reshape``'s ``shape``: a list of 1 to ``MAX_RANK`` sizes ≥ 1 (per sample,
    channels last)."""
    if not isinstance(value, list):
        raise FieldError(
            f"expected a list of sizes such as [256, 64] (per sample), got {describe(value)}"
        )
    return tuple(positive_int(v) for v in _int_list(value, "sizes"))


def permutation(value: Any) -> tuple[int, ...]:
    """A ``transpose``'s ``perm``: each dim of the input once, as the output's order."""
    if not isinstance(value, list):
        raise FieldError(f"expected a list such as [1, 0, 2], got {describe(value)}")
    perm = tuple(positive_int(v, minimum=0) for v in _int_list(value, "dims"))
    if sorted(perm) != list(range(len(perm))):
        raise FieldError(
            f"expected each of 0 to {len(perm) - 1} once (a permutation), got {describe(value)}"
        )
    return perm


def axes(value: Any) -> tuple[int, ...]:
    """``axis``: one dim or a list of them, each at most once (negative: from the end)."""
    found = tuple(_integer(v) for v in _int_list(value, "axes"))
    if len(set(found)) != len(found):
        raise FieldError(f"an axis is written twice: {describe(value)}")
    return found


def bounds(value: Any) -> tuple[int, ...]:
    """A ``slice``'s ``start`` or ``end``: one index per axis (negative: from the end;
    past the end: the end)."""
    return tuple(_integer(v) for v in _int_list(value, "indices"))


def steps(value: Any) -> tuple[int, ...]:
    """A ``slice``'s ``step``: one int ≥ 1 per axis."""
    return tuple(positive_int(v) for v in _int_list(value, "steps"))


FIELDS = {
    "shape": target_shape,
    "perm": permutation,
    "axis": axes,
    "start": bounds,
    "end": bounds,
    "step": steps,
}
"""The tensor layers' keys and their validators (joined to the spec's ``FIELDS``)."""

_INT = {"type": "integer", "minimum": -MAX_SIZE, "maximum": MAX_SIZE}
_SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}


def _one_or_list(item: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_RANK}]}


SCHEMAS: dict[str, dict[str, Any]] = {
    "shape": {
        "type": "array",
        "items": _SIZE,
        "minItems": 1,
        "maxItems": MAX_RANK,
        "description": "Reshape: the target shape per sample (channels last); it keeps the "
        "number of values.",
    },
    "perm": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": MAX_RANK - 1},
        "minItems": 1,
        "maxItems": MAX_RANK,
        "description": "Transpose: the input's dims in the output's order (each once).",
    },
    "axis": {
        **_one_or_list(_INT),
        "description": "Slice: the dims it cuts; softmax: the dim it normalizes (default "
        "-1). Per sample, negative from the end.",
    },
    "start": {**_one_or_list(_INT), "description": "Slice: the first index kept, per axis."},
    "end": {**_one_or_list(_INT), "description": "Slice: the index it stops before, per axis."},
    "step": {**_one_or_list(_SIZE), "description": "Slice: the stride, per axis (default 1)."},
}
"""The tensor layers' keys as JSON Schema (joined to :mod:`~sepconv_cli.spec.schema`'s)."""
