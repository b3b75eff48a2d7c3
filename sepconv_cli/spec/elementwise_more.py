"""The ``elementwise`` operations beside arithmetic with a constant, and the ``expand``
layer (issue 21 item 5, the last refusals).

- ``operation`` (``elementwise``): ``add``, ``sub``, ``mul``, ``div`` by a constant,
  ``pow`` (a constant exponent: ONNX's ``Pow``), or a function of one value
  (:data:`FUNCTIONS`: ``sqrt``, ``reciprocal``, ``exp``...): one FLOP per value each, no
  MACs, no parameters, as the ONNX reader counts those nodes.
- ``expand`` (``shape``, required): the input broadcast to ``shape`` (ONNX's ``Expand``):
  each dim of the input is 1 or the target's; nothing counted.
"""

from __future__ import annotations

ARITHMETIC: dict[str, str] = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow"}
"""Operations with a one-value constant (the input first) and their ONNX node."""

FUNCTIONS: dict[str, str] = {
    "sqrt": "Sqrt",
    "reciprocal": "Reciprocal",
    "exp": "Exp",
    "log": "Log",
    "abs": "Abs",
    "neg": "Neg",
    "erf": "Erf",
    "sin": "Sin",
    "cos": "Cos",
    "floor": "Floor",
    "ceil": "Ceil",
    "round": "Round",
    "sign": "Sign",
}
"""Operations of one value and their ONNX node."""

OPERATIONS: tuple[str, ...] = (*ARITHMETIC, *FUNCTIONS)
"""Every ``elementwise`` ``operation``."""

ONNX_OPS: dict[str, str] = {**ARITHMETIC, **FUNCTIONS}
"""Each operation's ONNX node."""

TYPES: dict[str, tuple[set[str], set[str]]] = {"expand": ({"shape"}, set())}
"""These layer types' required and optional keys (joined to the spec's ``TYPES``)."""
