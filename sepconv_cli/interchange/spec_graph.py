"""An ONNX model loaded for writing it out as a spec: every tensor's shape, the constants,
and who produces and who reads each data tensor.

Rules:

- The file is read and checked as ``profile`` reads and checks it (the graph without its
  weights' bytes, which are read only for the constants; onnx's checker on the graph).
- Shapes come only from ``onnx.shape_inference.infer_shapes(strict_mode=True,
  data_prop=True)`` (its lenient pass where the strict one stops), run after the graph
  input's symbolic dims are pinned as ``profile`` pins them: by ``--input-shape
  NAME=1x3x224x224``, and a symbolic batch (dim 0) by 1 otherwise (with a note). Any
  other symbolic dim left is an error naming the input and the flag.
- A tensor is *static* when it is an initializer, a ``Constant``'s output, a ``Shape``'s
  output, or the output of a node whose inputs are all static (shape arithmetic). Static
  nodes are not layers; they are skipped.
- ``Identity`` and ``Dropout`` (inference: the identity) are *pass-through*: their output is
  read as their input.
- A node's *data inputs* are its non-static inputs; a data tensor's *consumers* are the
  non-static nodes that read it.

Nothing here imports onnx at module level (:func:`~sepconv_cli.interchange.optional.require_onnx`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange.onnx_control import fold_control_flow
from sepconv_cli.interchange.onnx_inputs import InputValue, check_input_names, pin_inputs
from sepconv_cli.interchange.onnx_load import Shape, infer_bounded, pinned_copy, tensor_array
from sepconv_cli.interchange.onnx_shapes import WEIGHT_CARRIERS, Tensors, fold_values
from sepconv_cli.interchange.onnx_validate import load_checked as read_model
from sepconv_cli.interchange.optional import require_onnx

PASS_THROUGH = frozenset({"Identity", "Dropout"})
# ONNX TensorProto element types -> the spec's dtype key
DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 3: "int8"}


class NoShape(UsageError):
    """Shape inference left a tensor without a shape: the walk names the node that makes
    it (or reads it, for a graph input) as not expressed."""

    def __init__(self, graph: Graph, tensor: str) -> None:
        super().__init__(f"{graph.path}: shape inference left {tensor!r} without a shape")
        self.tensor = tensor
        self.node = graph.producer.get(tensor)


@dataclass
class Graph:
    """The loaded graph: nodes in topological order and the facts the walk needs."""

    path: str
    nodes: list[Any]
    input_name: str
    shapes: dict[str, tuple[int, ...]]
    constants: dict[str, Any]
    static: set[str]
    dtype: str
    notes: list[str] = field(default_factory=list)
    producer: dict[str, Any] = field(default_factory=dict)
    consumers: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    alias: dict[str, str] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    opsets: list[Any] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)  # every data input, in order
    # what the ONNX reader counts as learned (onnx_shapes.mark_weights), named before
    # shape arithmetic is folded into initializers: an LSTM's weights computed in the graph
    # are no parameters to it
    weights: set[str] = field(default_factory=set)
    # what the walks' pattern matchers found, by (what, tensor): the graph never changes
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def channels_last_input(self) -> bool:
        """The input is NHWC, as TensorFlow's exporters keep it: the nodes that read it are,
        past arithmetic with constants that keeps its shape (Keras' Rescaling and
        Normalization), ``Transpose`` nodes that move the channels first (tf2onnx's and
        keras2onnx's NHWC region around each convolution is then layout, not layers)."""
        shape = self.shape(self.input_name)
        rank = len(shape)
        first = [0, rank - 1, *range(1, rank - 1)]
        tensors, seen = [self.tensor(self.input_name)], 0
        while tensors and seen < 16:
            readers = self.readers(tensors.pop())
            if not readers or rank < 3:
                return False
            for node in readers:
                seen += 1
                perm = [list(a.ints) for a in node.attribute if a.name == "perm"]
                if node.op_type == "Transpose" and perm == [first]:
                    continue
                out = str(node.output[0])
                if (
                    node.op_type not in ("Add", "Sub", "Mul", "Div")
                    or len(self.data_inputs(node)) != 1
                    or self.shapes.get(out) != shape
                ):
                    return False
                tensors.append(self.tensor(out))
        return not tensors

    def tensor(self, name: str) -> str:
        """``name`` with pass-through nodes looked through."""
        while name in self.alias:
            name = self.alias[name]
        return name

    def data_inputs(self, node: Any) -> list[str]:
        """The node's inputs that carry data (not constants or shape arithmetic)."""
        return [self.tensor(t) for t in node.input if t and self.tensor(t) not in self.static]

    def order(self) -> dict[int, int]:
        """Each node's place in the graph's (topological) order, by ``id``."""
        if "order" not in self.memo:
            self.memo["order"] = {id(n): i for i, n in enumerate(self.nodes)}
        found: dict[int, int] = self.memo["order"]
        return found

    def readers(self, tensor: str) -> list[Any]:
        """The non-static nodes that read ``tensor``, in graph order (each node once)."""
        return self.consumers.get(self.tensor(tensor), [])

    def shape(self, tensor: str) -> tuple[int, ...]:
        """The tensor's inferred shape (an initializer's from its value)."""
        name = self.tensor(tensor)
        if name in self.shapes:
            return self.shapes[name]
        if name in self.constants:
            return tuple(int(d) for d in self.constants[name].shape)
        raise NoShape(self, name)

    def constant(self, tensor: str) -> Any | None:
        """The value of a constant tensor as a NumPy array, or None when it is not one."""
        return self.constants.get(self.tensor(tensor)) if tensor else None

    def is_layer_node(self, node: Any) -> bool:
        """A node the spec has to account for: neither static nor pass-through."""
        return node.op_type not in PASS_THROUGH and not all(t in self.static for t in node.output)


def load_graph(
    path: Path,
    input_shapes: dict[str, Shape],
    input_values: dict[str, InputValue] | None = None,
) -> Graph:
    """Read ``path`` and infer every shape; a file that is not a valid ONNX model, a model
    without a data input (an input given a value is not one), or a shape inference
    failure is one UsageError line. The file is read, its inputs pinned and the ``If`` nodes
    they decide folded as ``profile`` reads them (:mod:`~sepconv_cli.interchange.onnx_load`,
    :func:`~sepconv_cli.interchange.onnx_inputs.pin_inputs`,
    :func:`~sepconv_cli.interchange.onnx_control.fold_control_flow`): the same messages, the
    same defaults."""
    onnx = require_onnx(str(path))
    model = read_model(path)  # validated as profile validates it, onnx's checker included
    values = input_values or {}
    inputs = check_input_names(model, path, input_shapes, values)
    inputs = [i for i in inputs if i.name not in values]
    if not inputs:  # several are the spec's `inputs:` (interchange/spec_dag.py)
        raise UsageError(f"{path}: the spec needs an input; this model has none")
    notes: list[str] = []
    shapes = pin_inputs(model, path, input_shapes, notes, batch_flag=False, values=values)
    model = pinned_copy(fold_control_flow(model, path, shapes, values, notes), shapes)
    elem = inputs[0].type.tensor_type.elem_type
    learned: set[str] | None = None  # the first pass's: before anything is folded
    for _ in range(256):  # each fold of shape arithmetic lets inference see further
        inferred = _infer(model, onnx, path)
        result = Graph(
            path=str(path),
            nodes=list(inferred.graph.node),
            input_name=inputs[0].name,
            input_names=[i.name for i in inputs],
            shapes=_shapes(inferred.graph),
            constants=_constants(inferred.graph, path.parent),
            static={t.name for t in inferred.graph.initializer},
            dtype=DTYPES.get(elem, "float32"),
            notes=notes,
            opsets=list(inferred.opset_import),
        )
        _index(result, {o.name for o in inferred.graph.output})
        learned = learned if learned is not None else _learned(inferred.graph)
        result.weights = learned
        folded = _fold(result, onnx)
        result.constants.update(folded)
        if not folded:
            break
        # the folded values as initializers, their nodes gone, and inference again
        model.graph.initializer.extend(
            onnx.numpy_helper.from_array(v, k) for k, v in folded.items()
        )
        kept = [n for n in model.graph.node if not all(o in folded for o in n.output if o)]
        del model.graph.node[:]
        model.graph.node.extend(kept)
    return result


def _infer(model: Any, onnx: Any, path: Path) -> Any:
    """onnx's strict inference; where it stops on a node (onnx's own rule refusing a valid
    file, as PP-OCRv4's recognizer's), its lenient pass: the nodes whose shapes it leaves
    unknown are then named as not expressed, never guessed. Both in bounded memory
    (:func:`~sepconv_cli.interchange.onnx_load.infer_bounded`: its data propagation is
    a bomb of its own on a long 1-D tensor)."""
    inferred, why = infer_bounded(model)
    if inferred is None:
        raise UsageError(f"{path}: shape inference failed: {why}")
    return inferred


def _fold(graph: Graph, onnx: Any) -> dict[str, Any]:
    """Values of the static tensors computed by shape arithmetic (torch's ``chunk`` slices
    at ``Shape → Gather → Div``), from the inferred shapes, as the profile's walk folds
    them (:func:`~sepconv_cli.interchange.onnx_shapes.fold_values`: each node bounded by
    the size of what it makes). A part it cannot run stays unknown (its pattern then does
    not match, and the node is noted)."""
    static = [
        n
        for n in graph.nodes
        if n.op_type != "Constant" and n.output and all(t in graph.static for t in n.output)
    ]
    if not static:
        return {}
    opset = max((o.version for o in graph.opsets if o.domain in ("", "ai.onnx")), default=0)
    tensors = Tensors(
        base_dir=Path(graph.path).parent,
        shapes=dict(graph.shapes),
        values=dict(graph.constants),
        opset=opset,
        path=Path(graph.path),
    )
    return fold_values(static, tensors)


def _shapes(graph: Any) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        if info.type.HasField("tensor_type") and all(d.HasField("dim_value") for d in dims):
            shapes[info.name] = tuple(d.dim_value for d in dims)
    return shapes


def _constants(graph: Any, base_dir: Path) -> dict[str, Any]:
    values = {t.name: tensor_array(t, base_dir) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = tensor_array(attr.t, base_dir)
    return values


def _index(graph: Graph, outputs: set[str]) -> None:
    """Static tensors, pass-through aliases, producers and data consumers."""
    for node in graph.nodes:
        if node.op_type in ("Constant", "Shape", "Size") or (
            node.op_type not in PASS_THROUGH and all(not t or t in graph.static for t in node.input)
        ):
            graph.static.update(node.output)
        elif node.op_type in PASS_THROUGH:
            graph.alias[node.output[0]] = node.input[0]
            if node.input[0] in graph.static:
                graph.static.add(node.output[0])
    graph.outputs = {graph.tensor(o) for o in outputs}
    for node in graph.nodes:
        if not graph.is_layer_node(node):
            continue
        for out in node.output:
            graph.producer[out] = node
        seen: set[str] = set()
        for tensor in graph.data_inputs(node):
            if tensor not in seen:
                seen.add(tensor)
                graph.consumers[tensor].append(node)


def _learned(graph: Any) -> set[str]:
    """Initializers, ``Constant`` outputs and what weight carriers make of them only."""
    learned = {t.name for t in graph.initializer}
    for node in graph.node:
        inputs = [n for n in node.input if n]
        if node.op_type == "Constant" or (
            node.op_type in WEIGHT_CARRIERS and inputs and all(n in learned for n in inputs)
        ):
            learned.update(o for o in node.output if o)
    return learned
