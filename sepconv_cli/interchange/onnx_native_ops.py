"""The shape arithmetic exporters write (``Shape → Gather → Unsqueeze → Concat → Reshape``)
evaluated with NumPy directly: most folded nodes are these few ops, and ``onnx.reference``
costs ~9 MB and a millisecond per node to set up for each. Anything else (or a form of these
not handled here) returns None and goes to the reference runtime.

Each rule follows the ONNX operator's definition at the opsets exporters use (an ``axes``
attribute before opset 13, an input after; a ``Slice`` of attributes before opset 10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sepconv_cli.interchange.optional import require_onnx

Feeds = list[Any]  # the node's inputs' values, in order ("" for an absent optional one)


def _attribute(node: Any, name: str) -> Any:
    for attribute in node.attribute:
        if attribute.name == name:
            if attribute.type == attribute.INTS:
                return list(attribute.ints)
            if attribute.type == attribute.INT:
                return attribute.i
            if attribute.type == attribute.FLOAT:
                return attribute.f
            if attribute.type == attribute.TENSOR:
                return attribute.t
            return None
    return None


def _axes(node: Any, feeds: Feeds, position: int) -> list[int] | None:
    written = _attribute(node, "axes")
    if written is not None:
        return [int(a) for a in written]
    if len(feeds) > position and feeds[position] is not None:
        return [int(a) for a in np.asarray(feeds[position]).reshape(-1)]
    return None


def _unsqueeze(node: Any, feeds: Feeds) -> Any:
    axes = _axes(node, feeds, 1)
    if axes is None:
        return None
    rank = feeds[0].ndim + len(axes)
    return np.expand_dims(feeds[0], tuple(sorted(a + rank if a < 0 else a for a in axes)))


def _squeeze(node: Any, feeds: Feeds) -> Any:
    axes = _axes(node, feeds, 1)
    x = feeds[0]
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a + x.ndim if a < 0 else a for a in axes))


def _gather(node: Any, feeds: Feeds) -> Any:
    axis = _attribute(node, "axis") or 0
    return np.take(feeds[0], np.asarray(feeds[1]), axis=axis)


def _concat(node: Any, feeds: Feeds) -> Any:
    return np.concatenate([np.asarray(f) for f in feeds], axis=_attribute(node, "axis"))


def _slice(node: Any, feeds: Feeds) -> Any:
    x = feeds[0]
    if _attribute(node, "starts") is not None:
        return None  # opset < 10's attribute form: the reference runtime's
    starts, ends = (np.asarray(f).reshape(-1) for f in feeds[1:3])
    axes = _axes(node, feeds, 3) or list(range(len(starts)))
    has_steps = len(feeds) > 4 and feeds[4] is not None
    steps = np.asarray(feeds[4]).reshape(-1) if has_steps else [1] * len(starts)
    index: list[slice] = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[int(axis)] = slice(int(start), int(end), int(step))
    return x[tuple(index)]


def _reshape(node: Any, feeds: Feeds) -> Any:
    x, target = feeds[0], [int(d) for d in np.asarray(feeds[1]).reshape(-1)]
    if not _attribute(node, "allowzero"):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return x.reshape(target)


def _cast(node: Any, feeds: Feeds) -> Any:
    helper = require_onnx().helper
    return feeds[0].astype(helper.tensor_dtype_to_np_dtype(_attribute(node, "to")))


def _arithmetic(function: Callable[[Any, Any], Any]) -> Callable[[Any, Feeds], Any]:
    def rule(node: Any, feeds: Feeds) -> Any:
        a, b = np.asarray(feeds[0]), np.asarray(feeds[1])
        return np.asarray(function(a, b)).astype(np.result_type(a, b), copy=False)

    return rule


def _divide(a: Any, b: Any) -> Any:
    """ONNX's integer Div truncates toward zero (NumPy's // floors)."""
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(np.true_divide(a, b))
    return np.true_divide(a, b)


def _range(node: Any, feeds: Feeds) -> Any:
    start, limit, delta = (np.asarray(f).reshape(()) for f in feeds)
    return np.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)


def _constant_of_shape(node: Any, feeds: Feeds) -> Any:
    numpy_helper = require_onnx().numpy_helper
    shape = [int(d) for d in np.asarray(feeds[0]).reshape(-1)]
    value = _attribute(node, "value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1)
    return np.full(shape, fill[0], dtype=fill.dtype if value is not None else np.float32)


RULES: dict[str, Callable[[Any, Feeds], Any]] = {
    "Identity": lambda node, feeds: feeds[0],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Gather": _gather,
    "Concat": _concat,
    "Slice": _slice,
    "Reshape": _reshape,
    "Cast": _cast,
    "Add": _arithmetic(np.add),
    "Sub": _arithmetic(np.subtract),
    "Mul": _arithmetic(np.multiply),
    "Div": _arithmetic(_divide),
    "Equal": lambda node, feeds: np.equal(feeds[0], feeds[1]),
    "Less": lambda node, feeds: np.less(feeds[0], feeds[1]),
    "Greater": lambda node, feeds: np.greater(feeds[0], feeds[1]),
    "Where": lambda node, feeds: np.where(feeds[0], feeds[1], feeds[2]),
    "Max": _arithmetic(np.maximum),
    "Min": _arithmetic(np.minimum),
    "Sqrt": lambda node, feeds: np.sqrt(feeds[0]).astype(feeds[0].dtype, copy=False),
    "Neg": lambda node, feeds: np.negative(feeds[0]),
    "Abs": lambda node, feeds: np.abs(feeds[0]),
    "Floor": lambda node, feeds: np.floor(feeds[0]),
    "Ceil": lambda node, feeds: np.ceil(feeds[0]),
    "Not": lambda node, feeds: np.logical_not(feeds[0]),
    "Range": _range,
    "ConstantOfShape": _constant_of_shape,
}


def evaluate_natively(node: Any, inputs: list[str], feeds: dict[str, Any]) -> list[Any] | None:
    """``node``'s one output on ``feeds`` (by input name) when a rule here covers it, else
    None (and on any failure: the reference runtime then decides)."""
    rule = RULES.get(node.op_type)
    if rule is None or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    if any(name and feeds.get(name) is None for name in node.input):
        return None
    values = [np.asarray(feeds[name]) if name else None for name in node.input]
    try:
        out = rule(node, values)
    except Exception:  # an unusual form: the reference runtime's to evaluate, or refuse
        return None
    return None if out is None else [np.asarray(out)]
