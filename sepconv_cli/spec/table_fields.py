"""A learned table added to (or multiplying) a tensor, and a concat along another dim than
the channels: the last refusals of issue 21 item 5 (EfficientFormerV2's and EfficientViT's
attention biases, PP-OCR's bias after a transposed convolution, MediaPipe's detectors that
concatenate their heads' anchors).

- ``type: learned`` (``shape`` required, ``operation`` ``add`` (default) or ``mul``): the
  input plus (or times) a learned tensor of ``shape`` (channels last, as every spec shape),
  broadcast against the input as NumPy broadcasts (aligned at the last dim, the channels;
  a dim of 1 repeats). Its values are parameters, so it holds at least two (one value is
  an ``elementwise`` with a constant, which the ONNX reader counts no parameter for).
- ``axis`` on a ``concat`` layer (one dim, per sample, negative from the end; default the
  channels, -1): the dim its ``from`` tensors are joined along.

The checks against the input's shape are the lowering's (:mod:`sepconv_cli.counting.tables`);
:func:`layer_problem` checks what a layer's own keys say.
"""

from __future__ import annotations

from math import prod
from typing import Any

LEARNED_OPERATIONS = ("add", "mul")
"""A ``learned`` layer's operations: the ONNX reader counts an ``Add`` or a ``Mul`` of a
learned tensor's values as parameters (a ``Sub`` or ``Div`` by one as a constant)."""

TYPES: dict[str, tuple[set[str], set[str]]] = {
    "learned": ({"shape"}, {"operation"}),
    "concat": (set(), {"axis"}),
}
"""These layer types' required and optional keys (joined to the spec's ``TYPES``)."""


def layer_problem(kind: str, values: dict[str, Any]) -> tuple[str, str] | None:
    """What a ``learned`` or ``concat`` layer's own keys say wrong, as ``(key, message)``."""
    if kind == "learned":
        operation = values.get("operation", "add")
        if operation not in LEARNED_OPERATIONS:
            return "operation", (
                f"a learned layer adds or multiplies its table (add or mul), got {operation!r}"
            )
        shape = values.get("shape") or ()
        if prod(shape) < 2:
            return "shape", (
                "a learned table holds two or more values; one value is a constant: "
                f"{{type: elementwise, operation: {operation}}}"
            )
    if kind == "concat" and len(values.get("axis") or ()) > 1:
        return "axis", f"a concat joins along one dim, got {len(values['axis'])}"
    return None


_NOTES = {
    "shape": " Learned: the table's shape (two or more values), broadcast against the input.",
    "axis": " Concat: the one dim it joins along (default -1, the channels).",
    "operation": " Learned: add (default) or mul, the table's arithmetic with the input.",
}


def schemas(existing: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The JSON Schema of ``shape``, ``axis`` and ``operation`` (from ``existing``), their
    descriptions telling what a ``learned`` or ``concat`` layer makes of them."""
    out = {}
    for key, note in _NOTES.items():
        schema = dict(existing[key])
        schema["description"] = str(schema.get("description", "")) + note
        out[key] = schema
    return out
