"""What is known about a graph's tensors as the walk goes (:class:`Tensors`: shapes, small
constants' values, which tensors are weights), and the values of the shape-only subgraphs
(``Shape → Gather → Concat → Reshape``) that decide shapes (:func:`fold`).

Shapes here are ONNX's own (batch first, NCHW); the counting rows turn them channels-last.
A node whose inputs are all known values (constants, a ``Shape``'s output) is evaluated with
``onnx.reference`` and costs nothing: an exporter or runtime folds it. Each node type's
output shape rule is :mod:`onnx_shape_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

from sepconv_cli.interchange.onnx_load import FOLD_LIMIT, Shape, tensor_array
from sepconv_cli.interchange.onnx_native_ops import evaluate_natively
from sepconv_cli.interchange.optional import require, require_onnx


class NodeShapeError(Exception):
    """A node whose output shape cannot be computed (message says why)."""


class MalformedNode(NodeShapeError):
    """A node whose inputs and attributes contradict each other (shapes that do not
    broadcast, a product's inner dims that differ): the file is broken, and is refused."""


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

    def is_weight(self, name: str) -> bool:
        """Whether ``name`` is a learned tensor (its values are the model's, not computed
        from the input)."""
        return name in self.weights or name in self.initializers

    def value(self, name: str) -> Any | None:
        """The value of ``name`` if it is a known small constant, else None."""
        if name in self.values:
            return self.values[name]
        tensor = self.initializers.get(name)
        if tensor is None or prod(tensor.dims) > FOLD_LIMIT:
            return None
        self.values[name] = tensor_array(tensor, self.base_dir)
        return self.values[name]

    def need(self, node: Any, position: int, what: str) -> Any:
        """The value of input ``position`` of ``node``; without it the shape is unknown."""
        name = node.input[position] if position < len(node.input) else ""
        value = self.value(name) if name else None
        if value is None:
            raise NodeShapeError(f"its {what} ({name or 'absent'}) is not a constant")
        return value


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes by name (memoized per node: read several times per node)."""
    key = id(node)
    hit = _ATTRIBUTES.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    value = require_onnx().helper.get_attribute_value
    found = {a.name: value(a) for a in node.attribute}
    _ATTRIBUTES[key] = (node, found)
    return found


_ATTRIBUTES: dict[int, tuple[Any, dict[str, Any]]] = {}


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def fold(node: Any, tensors: Tensors) -> list[Any] | None:
    """The output values of ``node`` when every input is a known small constant (or the node
    is a ``Constant``), evaluated by ``onnx.reference``; else None."""
    if node.op_type == "Shape" and node.input[0] in tensors.shapes:
        import numpy as np

        shape = tensors.shapes[node.input[0]]
        a = attributes(node)
        start, end = a.get("start", 0), a.get("end", len(shape))
        return [np.array(shape[start:end], dtype=np.int64)]
    inputs = [name for name in node.input if name]
    if node.op_type != "Constant" and not inputs:
        return None
    # a computed input first: most nodes have one, and then no constant is read at all
    if any(n not in tensors.values and n not in tensors.initializers for n in inputs):
        return None
    known = [tensors.value(name) for name in inputs]
    if any(v is None for v in known):
        return None
    if node.op_type in ("RandomNormal", "RandomUniform", "Multinomial"):
        return None
    if node.op_type == "Constant":  # most folded nodes: read directly, no evaluator
        value = constant_value(node, tensors.base_dir)
        if value is not None:
            return [value]
    feeds = dict(zip(inputs, known, strict=True))
    native = evaluate_natively(node, inputs, feeds)
    return native if native is not None else evaluate(node, feeds, tensors.opset)


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


def broadcast(*shapes: Shape) -> Shape:
    """NumPy's (and ONNX's multidirectional) broadcasting of ``shapes``."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise MalformedNode(f"inputs {' and '.join(map(str, shapes))} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """``numpy.matmul``'s output shape (1-D operands promoted and dropped again)."""
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


def text_attribute(node: Any, name: str, default: str) -> str:
    return str(_text(attributes(node).get(name, default)))


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
