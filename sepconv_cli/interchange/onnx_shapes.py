"""What is known about a graph's tensors as the walk goes (:class:`Tensors`: shapes, small
constants' values, which tensors are weights), and the values of the shape-only subgraphs
(``Shape → Gather → Concat → Reshape``) that decide shapes (:func:`fold`).

Shapes here are ONNX's own (batch first, NCHW); the counting rows turn them channels-last.
A node whose inputs are all known values (constants, a ``Shape``'s output) is evaluated
(NumPy, else ``onnx.reference``) and costs nothing: an exporter or runtime folds it. Folding
is bounded by output size: its plan (:mod:`onnx_fold_size`) gives every output's shape
before anything is evaluated, and a node whose output would exceed
:data:`~sepconv_cli.interchange.onnx_load.FOLD_LIMIT` values (or whose work or integers would
run past their bounds) is not evaluated: its outputs are constants known by their shapes
alone (:attr:`Tensors.unheld`), and a rule that needs such a value refuses the file, naming
the node and the size it asked for. Each node type's output shape rule for the walk is
:mod:`onnx_shape_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any, NoReturn

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_attrs import (
    MalformedNode,
    NodeShapeError,
    attributes,
    broadcast,
    matmul_shape,
    text_attribute,
)
from sepconv_cli.interchange.onnx_fold_size import NeedsValue, Operand, describe, plan
from sepconv_cli.interchange.onnx_load import FOLD_LIMIT, Shape, tensor_array
from sepconv_cli.interchange.onnx_native_ops import evaluate_natively
from sepconv_cli.interchange.optional import require, require_onnx

__all__ = [  # the shared helpers (onnx_attrs) too, as the walk's modules import them here
    "WEIGHT_CARRIERS",
    "MalformedNode",
    "NodeShapeError",
    "Tensors",
    "attributes",
    "broadcast",
    "constant_value",
    "evaluate",
    "fold",
    "fold_values",
    "mark_weights",
    "matmul_shape",
    "text_attribute",
]


@dataclass
class Tensors:
    """What is known about every tensor of a graph so far: shapes, and values of small
    constants (read on demand from the initializers)."""

    base_dir: Path
    shapes: dict[str, Shape] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    initializers: dict[str, Any] = field(default_factory=dict)  # name -> TensorProto
    # learned tensors: the initializers, Constant nodes' values, and what a Transpose, Cast,
    # Reshape, DequantizeLinear... of one makes (a weight the exporter stored transposed)
    weights: set[str] = field(default_factory=set)
    opset: int = 0  # the file's default-domain opset: its nodes are evaluated at it (0: latest)
    # constants folding did not hold (too large, too much work, an integer overflow): each
    # name -> why, naming the node that first asked for too much (its shape is in shapes)
    unheld: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the model file, for messages

    def is_weight(self, name: str) -> bool:
        """Whether ``name`` is a learned tensor (its values are the model's, not computed
        from the input)."""
        return name in self.weights or name in self.initializers

    def value(self, name: str) -> Any | None:
        """The value of ``name`` if it is a known small constant, else None."""
        if name in self.values:
            return self.values[name]
        tensor = self.initializers.get(name)
        if tensor is None or any(d < 0 for d in tensor.dims) or prod(tensor.dims) > FOLD_LIMIT:
            return None
        self.values[name] = tensor_array(tensor, self.base_dir)
        return self.values[name]

    def need(self, node: Any, position: int, what: str) -> Any:
        """The value of input ``position`` of ``node``; without it the shape is unknown. A
        constant folding did not hold refuses the file (exit 2): the node that asked for too
        much is named, with the size it asked for."""
        name = node.input[position] if position < len(node.input) else ""
        value = self.value(name) if name else None
        if value is None and name in self.unheld:
            self.refuse(name, node, what)
        if value is None:
            raise NodeShapeError(f"its {what} ({name or 'absent'}) is not a constant")
        return value

    def refuse(self, name: str, node: Any, what: str) -> NoReturn:
        """Raise the one-line error for ``node`` needing (as its ``what``) the value of
        ``name``, a constant folding did not hold."""
        where = f"{self.path}: " if self.path is not None else ""
        raise UsageError(
            f"{where}{self.unheld[name]} ({describe(node)} needs its value for its {what})"
        )


def fold(node: Any, tensors: Tensors) -> list[Any] | None:
    """The output values of ``node`` when every input is a known constant (or the node is a
    ``Constant``, or a ``Shape``/``Size`` of a tensor of known shape), evaluated by NumPy or
    ``onnx.reference``; else None. A node on constants whose plan refuses it (an output past
    :data:`FOLD_LIMIT` values, too much work, an integer overflow), or that reads a constant
    not held, gives ``[]``: it is constant work whose values are not computed; its outputs
    are ``tensors.unheld`` and their shapes are recorded in ``tensors.shapes``."""
    if node.op_type in ("Shape", "Size") and node.input[0] in tensors.shapes:
        shape = tensors.shapes[node.input[0]]
        held = _held(node, [Operand(shape)], tensors, None)  # a dim past int64: not held
        return held if held is not None else _shape_value(node, shape)
    inputs = [name for name in node.input if name]
    if node.op_type != "Constant" and not inputs:
        return None
    # a computed input first: most nodes have one, and then no constant is read at all
    if any(
        n not in tensors.values and n not in tensors.initializers and n not in tensors.unheld
        for n in inputs
    ):
        return None
    known = {name: tensors.value(name) for name in inputs}
    if any(v is None and n not in tensors.unheld for n, v in known.items()):
        return None  # a weight (an initializer too large to read): not a folded constant
    ops = [_operand(n, known, tensors) if n else None for n in node.input]
    origin = next((n for n in inputs if known[n] is None), None)
    held = _held(node, ops, tensors, origin)
    if held is not None or origin is not None:
        return held
    if node.op_type == "Constant":  # most folded nodes: read directly, no evaluator
        value = constant_value(node, tensors.base_dir)
        if value is not None:
            return [value]
    elif _unplanned(node, ops):
        # no rule bounds what evaluating it makes (an op without one, or inputs its rule
        # finds broken: the walk names the fault): not evaluated, however small its inputs
        return None
    native = evaluate_natively(node, inputs, known)
    return native if native is not None else evaluate(node, known, tensors.opset)


def fold_values(nodes: Sequence[Any], tensors: Tensors) -> dict[str, Any]:
    """The values :func:`fold` computes for the outputs of ``nodes`` (in graph order) not
    known yet, each node bounded by its plan, by name; each is added to ``tensors`` too, so
    a later node reads it. A node folding does not evaluate leaves its outputs unknown."""
    found: dict[str, Any] = {}
    for node in nodes:
        for output, value in zip(node.output, fold(node, tensors) or [], strict=False):
            if output and output not in tensors.values:
                tensors.values[output] = value
                tensors.shapes[output] = tuple(int(d) for d in value.shape)
                found[output] = value
    return found


def _operand(name: str, known: dict[str, Any], tensors: Tensors) -> Operand:
    value = known[name]
    return Operand(tuple(value.shape) if value is not None else tensors.shapes[name], value)


def _held(
    node: Any, ops: list[Operand | None], tensors: Tensors, origin: str | None
) -> list[Any] | None:
    """None when ``node`` may be evaluated on ``ops``, or has no plan (it is then not
    folded); ``[]`` when it is constant work whose values are not held: its plan refuses
    it, or it reads ``origin``, a constant not held. Its outputs are then
    ``tensors.unheld`` (with the first refusal's reason) and their planned shapes are
    recorded. An output shape that needs a value not held refuses the file."""
    try:
        planned = plan(node, ops)
    except NeedsValue as need:
        name = node.input[need.position]
        if name in tensors.unheld:
            tensors.refuse(name, node, need.what)
        planned = None
    outputs = [o for o in node.output if o]
    if origin is not None:  # its values are unknown, whatever its plan: say where from
        tensors.unheld.update(dict.fromkeys(outputs, tensors.unheld[origin]))
    if planned is None or (origin is None and not planned.refusal):
        return None
    for output, shape in zip(outputs, planned.shapes, strict=False):
        tensors.unheld.setdefault(output, planned.refusal)
        tensors.shapes[output] = shape
    return []


def _unplanned(node: Any, ops: list[Operand | None]) -> bool:
    """Whether ``node`` has no plan on ``ops`` (:func:`plan`): nothing says how large its
    outputs would be, so evaluating it could take any memory."""
    try:
        return plan(node, ops) is None
    except NeedsValue:
        return True


def _shape_value(node: Any, shape: Shape) -> list[Any]:
    import numpy as np

    if node.op_type == "Size":
        return [np.array(prod(shape), dtype=np.int64)]
    a = attributes(node)
    start, end = a.get("start", 0), a.get("end", len(shape))
    return [np.array(shape[start:end], dtype=np.int64)]


def constant_value(node: Any, base_dir: Path) -> Any | None:
    """A ``Constant`` node's value as a NumPy array (its ``value`` tensor, or one of the
    scalar and list forms), or None for a form left to the reference runtime."""
    import numpy as np

    for attribute in node.attribute:
        name = attribute.name
        if name == "value":
            return tensor_array(attribute.t, base_dir)
        if name in ("value_float", "value_int"):
            kind = np.float32 if name == "value_float" else np.int64
            return np.array(attribute.f if name == "value_float" else attribute.i, kind)
        if name in ("value_floats", "value_ints"):
            values = attribute.floats if name == "value_floats" else attribute.ints
            return np.array(list(values), np.float32 if name == "value_floats" else np.int64)
    return None


def evaluate(node: Any, feeds: dict[str, Any], opset: int = 0) -> list[Any] | None:
    """``node``'s outputs on the values ``feeds``, by ``onnx.reference`` at the file's
    ``opset`` (an opset-11 ``Unsqueeze`` takes its axes as an attribute, a newer one as an
    input), or None when the reference runtime cannot run it."""
    reference = require("onnx.reference")
    try:
        if not opset:
            return list(reference.ReferenceEvaluator(node).run(None, feeds))
        onnx = require_onnx()
        helper = onnx.helper
        inputs = [
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), None)
            for name, v in feeds.items()
        ]
        outputs = [helper.make_value_info(o, onnx.TypeProto()) for o in node.output if o]
        graph = helper.make_graph([node], "fold", inputs, outputs)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return list(reference.ReferenceEvaluator(model).run(None, feeds))
    except Exception:  # an op the reference runtime lacks: its shape is found another way
        return None


WEIGHT_CARRIERS = frozenset(
    {
        "Identity",
        "Transpose",
        "Cast",
        "CastLike",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Dropout",
        "DequantizeLinear",
    }
)
"""Nodes whose output is a weight when their data input is one: an exporter's Linear
weight stored transposed (``Transpose(W)``), cast to half precision, or dequantized."""


def mark_weights(nodes: Any, tensors: Tensors) -> None:
    """Add to ``tensors.weights`` every learned tensor the graph makes from its
    initializers: a ``Constant`` node's value, and the output of a
    :data:`WEIGHT_CARRIERS` node whose every input is a weight (in topological order, so a
    chain of them carries too)."""
    for node in nodes:
        outputs = [o for o in node.output if o]
        if node.op_type == "Constant" or (
            node.op_type in WEIGHT_CARRIERS
            and node.input
            and all(tensors.is_weight(n) for n in node.input if n)
        ):
            tensors.weights.update(outputs)
