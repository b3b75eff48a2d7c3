"""The keys of the layers real mobile networks add (issue 21 item 5): ``reduce``,
``conv_transpose``, ``depth_to_space`` and a ``pad`` of the channels.

- ``reduction`` (``reduce``, required): the function, one of :data:`REDUCTIONS` (ONNX's
  ``ReduceSum``, ``ReduceMean``, ``ReduceL2``, ``ReduceMax``...); ``axis`` (the tensor
  layers' key, :mod:`~sepconv_cli.spec.tensor_fields`) the dims it folds, ``keepdims``
  (default true) whether they stay as dims of 1.
- ``output_padding`` (``conv_transpose``): ints ≥ 0 added to one side of each spatial
  output dim, one for every dim or one per dim (ONNX's and torch's ``output_padding``).
- ``block_size`` (``depth_to_space``, required, ≥ 1) and ``order`` (``dcr``, the default,
  or ``crd``: ONNX's ``mode``): the channels moved into ``block_size × block_size``
  spatial blocks.
- ``channels`` (``pad``): ``[before, after]``, the channels a pad adds (MediaPipe's
  ``channel_padding``), beside or instead of its spatial ``padding``.

The checks against the input's shape are the lowering's
(:mod:`sepconv_cli.counting.more_layers`); :func:`layer_problem` checks what a layer's own
keys say.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.spec.fields import MAX_DIMS, MAX_SIZE, FieldError, describe, positive_int

REDUCTIONS: dict[str, str] = {
    "sum": "ReduceSum",
    "mean": "ReduceMean",
    "max": "ReduceMax",
    "min": "ReduceMin",
    "prod": "ReduceProd",
    "l1": "ReduceL1",
    "l2": "ReduceL2",
    "sum_square": "ReduceSumSquare",
    "log_sum": "ReduceLogSum",
    "log_sum_exp": "ReduceLogSumExp",
}
"""A ``reduce`` layer's ``reduction`` and the ONNX node it is."""

ORDERS = ("dcr", "crd")
"""A ``depth_to_space``'s channel order: ONNX's ``DCR`` (TensorFlow's, the default) or
``CRD`` (torch's ``PixelShuffle``)."""


def reduction(value: Any) -> str:
    """One of :data:`REDUCTIONS`."""
    if isinstance(value, str) and value.strip().lower() in REDUCTIONS:
        return value.strip().lower()
    raise FieldError(f"expected one of {', '.join(REDUCTIONS)}, got {describe(value)}")


def keepdims(value: Any) -> bool:
    """``true`` (the reduced dims stay, of size 1) or ``false``."""
    if not isinstance(value, bool):
        raise FieldError(f"expected true or false, got {describe(value)}")
    return value


def output_padding(value: Any) -> tuple[int, ...]:
    """An int ≥ 0 for every spatial dim, or a list of 1 to ``MAX_DIMS`` of them."""
    items = value if isinstance(value, list) else [value]
    if not 1 <= len(items) <= MAX_DIMS:
        raise FieldError(
            f"expected an int >= 0 or a list of 1 to {MAX_DIMS} of them, got {describe(value)}"
        )
    return tuple(positive_int(v, minimum=0) for v in items)


def order(value: Any) -> str:
    """``dcr`` or ``crd`` (case as written: ONNX writes them upper-case)."""
    if isinstance(value, str) and value.strip().lower() in ORDERS:
        return value.strip().lower()
    raise FieldError(f"expected dcr or crd, got {describe(value)}")


def channel_pads(value: Any) -> tuple[int, int]:
    """A pad's ``channels``: ``[before, after]``, two ints ≥ 0."""
    if not isinstance(value, list) or len(value) != 2:
        raise FieldError(f"expected [before, after], two ints >= 0, got {describe(value)}")
    before, after = (positive_int(v, minimum=0) for v in value)
    return before, after


FIELDS = {
    "reduction": reduction,
    "keepdims": keepdims,
    "output_padding": output_padding,
    "block_size": positive_int,
    "order": order,
    "channels": channel_pads,
}
"""These layers' keys and their validators (joined to the spec's ``FIELDS``)."""

TYPES: dict[str, tuple[set[str], set[str]]] = {
    "reduce": ({"reduction", "axis"}, {"keepdims"}),
    "conv_transpose": (
        {"kernel", "filters"},
        {"stride", "padding", "output_padding", "dilation", "groups", "bias"},
    ),
    "depth_to_space": ({"block_size"}, {"order"}),
}
"""These layer types' required and optional keys (joined to the spec's ``TYPES``; ``pad``
takes ``channels`` there)."""


def layer_problem(kind: str, values: dict[str, Any]) -> tuple[str, str] | None:
    """What a layer's own keys say wrong, as ``(key, message)``: a ``pad`` with neither
    ``padding`` nor ``channels``, or a ``padding`` of ``valid`` or ``same`` (a pad adds
    explicit amounts)."""
    if kind != "pad":
        return None
    if "padding" not in values and "channels" not in values:
        return "type", "a pad layer needs padding (spatial) or channels ([before, after])"
    if isinstance(values.get("padding"), str):
        return "padding", (
            "a pad layer pads by explicit amounts (an int, one per dim or [before, after] "
            f"pairs), not {values['padding']!r}"
        )
    return None


_NON_NEGATIVE = {"type": "integer", "minimum": 0, "maximum": MAX_SIZE}

SCHEMAS: dict[str, dict[str, Any]] = {
    "reduction": {
        "enum": list(REDUCTIONS),
        "description": "Reduce: the function (sum, mean, max, min, prod, l1, l2, sum_square, "
        "log_sum, log_sum_exp) over the dims axis names.",
    },
    "keepdims": {
        "type": "boolean",
        "description": "Reduce: keep the reduced dims as dims of 1 (default true).",
    },
    "output_padding": {
        "oneOf": [
            _NON_NEGATIVE,
            {"type": "array", "items": _NON_NEGATIVE, "minItems": 1, "maxItems": MAX_DIMS},
        ],
        "description": "Conv_transpose: added to one side of each spatial output dim.",
    },
    "block_size": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_SIZE,
        "description": "Depth_to_space: the side of the spatial block the channels fill.",
    },
    "order": {
        "enum": list(ORDERS),
        "description": "Depth_to_space: dcr (depth, column, row: TensorFlow's, default) or "
        "crd (torch's PixelShuffle).",
    },
    "channels": {
        "type": "array",
        "items": _NON_NEGATIVE,
        "minItems": 2,
        "maxItems": 2,
        "description": "Pad: [before, after], the channels added (MediaPipe's channel_padding).",
    },
}
"""These keys as JSON Schema (joined to :mod:`~sepconv_cli.spec.schema`'s)."""
