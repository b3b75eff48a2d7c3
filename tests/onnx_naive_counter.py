"""A naive, independent count of an ONNX file's MACs and parameters: the reference that
tests/test_wild_models.py holds sepconv's ONNX reader to. Imports nothing from sepconv.

What it does, in order:

1. Inlines the model's local functions (``onnx.inliner``) and pins every graph input to a
   static shape: the shape given, else the file's own when every dim is a number ≥ 0, else
   a symbolic (or ``-1``, or unknown) *first* dim alone becomes 1; any other input with a
   non-static dim is an error (pin it).
2. Control flow: each ``If`` is replaced by the nodes of the branch it takes (its outputs
   become ``Identity`` nodes of the branch's), repeatedly, until none is left (nested ones
   included). The branch is the one named in ``if_branches`` (node name → ``"then_branch"``
   or ``"else_branch"``), else the one its condition selects when the model runs on
   onnxruntime with zero inputs (``input_values`` overriding: ``{"sr": 16000}``). ``Loop``
   and ``Scan`` are errors.
3. Shapes: ``onnx.shape_inference.infer_shapes(strict_mode=True, data_prop=True)`` on that
   flat graph (lenient mode if strict mode refuses it, noted); the shapes it leaves unknown
   that a count needs are the ones onnxruntime produces when it runs the flat graph on zero
   inputs (noted, with how many).
4. MACs, summed over every node of the flat graph:

   ====================  =======================================================================
   node                  MACs
   ====================  =======================================================================
   Conv, ConvInteger,    ``prod(output) · prod(W.shape[1:])``: every output value (batch and
   QLinearConv           output channels included) meets ``Cin/group · prod(kernel)`` weights
   ConvTranspose         ``prod(input) · prod(W.shape[1:])``: every input value meets a
                         ``Cout/group · prod(kernel)`` slice of the weight
   MatMul, MatMulInteger ``prod(output) · K`` (K: the contracted dim), whether or not an operand
   QLinearMatMul, Gemm,  is a weight (attention's products of two computed tensors included)
   QGemm (contrib op)
   Einsum                product of the sizes of every distinct index (ellipsis dims broadcast),
                         with two or more operands; one operand: 0
   LSTM, GRU, RNN        ``seq · batch · directions · gates · H · (I + H)``, gates 4, 3, 1
   DynamicQuantizeLSTM   likewise (com.microsoft; its W is laid out ``[dirs, I, 4H]``)
   ====================  =======================================================================

   Nothing else has MACs (activations, norms, pools, elementwise ops: none).
5. Parameters. A tensor is *constant* when it is an initializer, a ``Constant`` or
   ``ConstantOfShape`` output, a ``Shape``/``Size`` output (the inputs are pinned), or the
   output of a node whose inputs are all constant; it is *stored* when it is an initializer
   or a ``Constant`` output, or the output of a constant ``Identity``, ``Cast``,
   ``Transpose``, ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze`` or ``DequantizeLinear``
   of a stored tensor (a weight rearranged, not computed: anchors made by ``Range`` are
   constant, not stored). ``weight_params`` sums the elements of
   the stored tensors each node consumes as a weight, **once per consuming node**:
   Conv/ConvTranspose inputs 1 and 2 (weight, bias), ConvInteger 1, QLinearConv 3 and 8,
   Gemm 0-2 and MatMul/MatMulInteger 0-1 (whichever are stored), QLinearMatMul 0 and 3,
   LSTM/GRU/RNN/DynamicQuantizeLSTM 1-3 (W, R, B), BatchNormalization 1-2 (scale and bias,
   not the running mean and variance), LayerNormalization 1-2, PRelu 1 (the slopes).
   ``elementwise_params`` sums
   the stored floating-point operands of more than one element of an ``Add`` or ``Mul``
   whose other operand is not constant (a bias after a MatMul, a layer scale, a position
   embedding): what PyTorch counts as ``nn.Parameter``s there. ``params`` is their sum. Not
   counted: InstanceNormalization and GroupNormalization scales (PyTorch's exporter writes a
   GroupNorm as an InstanceNormalization by ones and zeros of its own, then a Mul and an Add
   by the learned affine), Sub/Div operands, embedding tables read by Gather.
   ``bn_channels``: the channels of the BatchNormalization nodes (what an exporter did not
   fold).

Every node with MACs or parameters is listed in ``nodes`` with ``top``, the main-graph node it
came from (itself, or the outermost ``If`` whose branch held it), named as sepconv's
``uncounted_nodes`` name nodes: the node's name, or ``#index`` in the main graph.
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import shape_inference

#: input index lists of the weights each node type consumes (see the module docstring)
WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "ConvInteger": (1,),
    "QLinearConv": (3, 8),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearMatMul": (0, 3),
    "QGemm": (0, 3, 6),  # com.microsoft: A, a_scale, a_zp, B, b_scale, b_zp, C, …
    "LSTM": (1, 2, 3),
    "GRU": (1, 2, 3),
    "RNN": (1, 2, 3),
    "DynamicQuantizeLSTM": (1, 2, 3),
    "BatchNormalization": (1, 2),
    "LayerNormalization": (1, 2),
    "PRelu": (1,),
}
ELEMENTWISE_PARAM_OPS = ("Add", "Mul")
FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.DOUBLE,
}
#: the ops through which a stored tensor stays stored (its values rearranged, not computed)
STORED_THROUGH = (
    "Identity",
    "Cast",
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "DequantizeLinear",
)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "DynamicQuantizeLSTM": 4}
#: the ops whose MACs this counter knows (everything else has none)
MAC_OPS = (
    "Conv",
    "ConvInteger",
    "QLinearConv",
    "ConvTranspose",
    "MatMul",
    "MatMulInteger",
    "QLinearMatMul",
    "Gemm",
    "QGemm",
    "Einsum",
    *GATES,
)


class NaiveCountError(Exception):
    """The file cannot be counted by these rules (a shape unknown, a Loop, …)."""


@dataclass(frozen=True)
class NodeCount:
    """One node with MACs or parameters (see the module docstring for ``top``)."""

    name: str
    op_type: str
    macs: int
    params: int
    top: str
    top_op_type: str


@dataclass
class NaiveCount:
    macs: int = 0
    weight_params: int = 0
    elementwise_params: int = 0
    bn_channels: int = 0
    nodes: list[NodeCount] = field(default_factory=list)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    branches_taken: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def params(self) -> int:
        return self.weight_params + self.elementwise_params

    def macs_by_op(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.nodes:
            if item.macs:
                out[item.op_type] = out.get(item.op_type, 0) + item.macs
        return out

    def macs_of_top(self, names: Iterable[str]) -> int:
        """MACs of the nodes in the main-graph nodes ``names`` (sepconv's uncounted list)."""
        wanted = set(names)
        return sum(item.macs for item in self.nodes if item.top in wanted)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NaiveCount:
        nodes = [NodeCount(**item) for item in data["nodes"]]
        return cls(**{**data, "nodes": nodes})


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _dims(type_proto: onnx.TypeProto) -> list[int] | None:
    """Static dims of a tensor type, or None if any is not a number ≥ 0."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims: list[int] = []
    for dim in type_proto.tensor_type.shape.dim:
        if not dim.HasField("dim_value") or dim.dim_value < 0:
            return None
        dims.append(dim.dim_value)
    return dims


def pin_inputs(
    model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]] | None = None
) -> dict[str, list[int]]:
    """Rewrite ``model``'s graph inputs (in place) to static shapes; returns them."""
    wanted = {name: [int(d) for d in dims] for name, dims in (shapes or {}).items()}
    initializers = {init.name for init in model.graph.initializer}
    pinned: dict[str, list[int]] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if value.name in wanted:
            dims = wanted.pop(value.name)
        else:
            raw = [
                d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else None
                for d in tensor.shape.dim
            ]
            if raw and raw[0] is None and all(d is not None for d in raw[1:]):
                raw[0] = 1
            if not tensor.HasField("shape") or any(d is None for d in raw):
                raise NaiveCountError(f"input {value.name!r} needs a static shape: pin it")
            dims = [d for d in raw if d is not None]
        tensor.shape.Clear()
        for d in dims:
            tensor.shape.dim.add().dim_value = d
        pinned[value.name] = dims
    if wanted:
        raise NaiveCountError(f"no such graph input: {sorted(wanted)}")
    return pinned


def _zero_inputs(model: onnx.ModelProto, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    initializers = {init.name for init in model.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        if value.name in values:
            feeds[value.name] = np.asarray(values[value.name], dtype=dtype)
        else:
            feeds[value.name] = np.zeros([d.dim_value for d in tensor.shape.dim], dtype=dtype)
    return feeds


def _run(model: onnx.ModelProto, outputs: Sequence[str], feeds: Mapping[str, np.ndarray]) -> Any:
    """onnxruntime's values of ``outputs`` (any tensors of the main graph) on ``feeds``."""
    try:
        import onnxruntime as ort
    except ImportError as error:  # pragma: no cover - the test extra installs it
        raise NaiveCountError("this file needs onnxruntime (for If or shapes)") from error
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.ValueInfoProto(name=name) for name in outputs)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(list(outputs), dict(feeds))


def flatten_ifs(
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    if_branches: Mapping[str, str],
    taken: dict[str, str],
) -> dict[str, str]:
    """Replace every If of ``model``'s main graph (in place) by the branch it takes; returns
    each inlined node's output → the outermost If it came from (its name or #index)."""
    origin: dict[str, str] = {}
    tops = {
        name: node.name or f"#{index}"
        for index, node in enumerate(model.graph.node)
        for name in node.output
    }
    while True:
        ifs = [node for node in model.graph.node if node.op_type == "If"]
        for node in model.graph.node:
            if node.op_type in ("Loop", "Scan"):
                raise NaiveCountError(f"{node.op_type} node {node.name!r}: not supported")
        if not ifs:
            return origin
        unknown = [node.input[0] for node in ifs if node.name not in if_branches]
        conds: dict[str, Any] = {}
        if unknown:
            conds = dict(zip(unknown, _run(model, unknown, feeds), strict=True))
        nodes: list[onnx.NodeProto] = []
        for node in model.graph.node:
            if node.op_type != "If":
                nodes.append(node)
                continue
            if node.name in if_branches:
                branch = if_branches[node.name]
            else:
                branch = "then_branch" if bool(np.asarray(conds[node.input[0]])) else "else_branch"
            taken[node.name] = branch
            sub: onnx.GraphProto = _attr(node, branch)
            top = origin.get(node.output[0], tops.get(node.output[0], node.name))
            model.graph.initializer.extend(sub.initializer)
            for inner in sub.node:
                nodes.append(inner)
                for name in inner.output:
                    origin[name] = top
            for outer, inner_value in zip(node.output, sub.output, strict=True):
                nodes.append(onnx.helper.make_node("Identity", [inner_value.name], [outer]))
                origin[outer] = top
        del model.graph.node[:]
        model.graph.node.extend(nodes)


class _Counter:
    def __init__(
        self, graph: onnx.GraphProto, shapes: dict[str, list[int]], types: dict[str, int]
    ) -> None:
        self.shapes = shapes
        self.types = types
        self.stored = {init.name for init in graph.initializer}
        self.constant = set(self.stored)

    def shape(self, name: str, node: onnx.NodeProto) -> list[int]:
        if name not in self.shapes:
            raise NaiveCountError(
                f"{node.op_type} node {node.name!r}: the shape of {name!r} is not known"
            )
        return self.shapes[name]

    def numel(self, name: str, node: onnx.NodeProto) -> int:
        return math.prod(self.shape(name, node))

    def mark(self, node: onnx.NodeProto) -> None:
        inputs = [name for name in node.input if name]
        if node.op_type == "Constant":
            self.stored.update(node.output)
            self.constant.update(node.output)
        elif node.op_type in ("Shape", "Size", "ConstantOfShape") or (
            inputs and all(name in self.constant for name in inputs)
        ):
            self.constant.update(node.output)
            if node.op_type in STORED_THROUGH and inputs[0] in self.stored:
                self.stored.update(node.output)

    def params(self, node: onnx.NodeProto) -> tuple[int, int]:
        op = node.op_type
        weight = 0
        for index in WEIGHT_INPUTS.get(op, ()):
            if index < len(node.input) and node.input[index] in self.stored:
                weight += self.numel(node.input[index], node)
        elementwise = 0
        if op in ELEMENTWISE_PARAM_OPS and not all(n in self.constant for n in node.input):
            for name in node.input:
                if (
                    name in self.stored
                    and self.types.get(name) in FLOAT_TYPES
                    and self.numel(name, node) > 1
                ):
                    elementwise += self.numel(name, node)
        return weight, elementwise

    def macs(self, node: onnx.NodeProto) -> int:
        op = node.op_type
        if op in ("Conv", "ConvInteger", "QLinearConv"):
            w = node.input[3] if op == "QLinearConv" else node.input[1]
            return self.numel(node.output[0], node) * math.prod(self.shape(w, node)[1:])
        if op == "ConvTranspose":
            return self.numel(node.input[0], node) * math.prod(self.shape(node.input[1], node)[1:])
        if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
            a = self.shape(node.input[0], node)
            return self.numel(node.output[0], node) * a[-1]
        if op in ("Gemm", "QGemm"):
            a = self.shape(node.input[0], node)
            k = a[0] if _attr(node, "transA", 0) else a[1]
            return self.numel(node.output[0], node) * k
        if op == "Einsum":
            return self.einsum(node)
        if op in GATES:
            x = self.shape(node.input[0], node)
            seq, batch = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
            hidden = int(_attr(node, "hidden_size"))
            w = self.shape(node.input[1], node)
            size_in = w[1] if op == "DynamicQuantizeLSTM" else w[2]
            return seq * batch * w[0] * GATES[op] * hidden * (size_in + hidden)
        return 0

    def einsum(self, node: onnx.NodeProto) -> int:
        operands = [name for name in node.input if name]
        if len(operands) < 2:
            return 0
        raw = _attr(node, "equation")
        equation = raw.decode() if isinstance(raw, bytes) else str(raw)
        terms = equation.replace(" ", "").split("->")[0].split(",")
        sizes: dict[str, int] = {}
        ellipsis: list[int] = []
        for term, name in zip(terms, operands, strict=True):
            dims = self.shape(name, node)
            letters = [c for c in term.replace("...", "") if c in string.ascii_letters]
            if "..." in term:
                start = term.index("...")
                width = len(dims) - len(letters)
                middle = dims[start : start + width]
                dims = dims[:start] + dims[start + width :]
                span = max(len(ellipsis), len(middle))
                a = [1] * (span - len(ellipsis)) + ellipsis
                b = [1] * (span - len(middle)) + middle
                ellipsis = [max(x, y) for x, y in zip(a, b, strict=True)]
            for letter, size in zip(letters, dims, strict=True):
                sizes[letter] = max(sizes.get(letter, 1), size)
        return math.prod(sizes.values()) * math.prod(ellipsis)


def _collect(graph: onnx.GraphProto, shapes: dict[str, list[int]], types: dict[str, int]) -> None:
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = _dims(value.type)
        if dims is not None:
            shapes.setdefault(value.name, dims)
        if value.type.HasField("tensor_type") and value.type.tensor_type.elem_type:
            types.setdefault(value.name, value.type.tensor_type.elem_type)
    for init in graph.initializer:
        shapes.setdefault(init.name, list(init.dims))
        types.setdefault(init.name, init.data_type)
    for node in graph.node:
        value = _attr(node, "value") if node.op_type == "Constant" else None
        if isinstance(value, onnx.TensorProto):
            shapes.setdefault(node.output[0], list(value.dims))
            types.setdefault(node.output[0], value.data_type)


def count(
    model: onnx.ModelProto | str,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    input_values: Mapping[str, Any] | None = None,
    if_branches: Mapping[str, str] | None = None,
) -> NaiveCount:
    """The naive count of ``model`` (a ModelProto, left unchanged, or a path)."""
    if isinstance(model, str):
        model = onnx.load(model)
    else:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        model = copy
    result = NaiveCount()
    if model.functions:
        from onnx import inliner

        model = inliner.inline_local_functions(model)
        result.notes.append("local functions inlined")
    result.input_shapes = pin_inputs(model, input_shapes)
    tops = {
        name: node.name or f"#{index}"
        for index, node in enumerate(model.graph.node)
        for name in node.output
    }
    feeds = _zero_inputs(model, input_values or {})
    origin = flatten_ifs(model, feeds, if_branches or {}, result.branches_taken)
    unused = set(if_branches or {}) - set(result.branches_taken)
    if unused:
        raise NaiveCountError(f"if_branches names no If node: {sorted(unused)}")
    del model.graph.value_info[:]
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as error:  # a file onnx's strict inference refuses: say so, go on
        result.notes.append(f"strict shape inference failed ({type(error).__name__}); lenient")
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    shapes: dict[str, list[int]] = {}
    types: dict[str, int] = {}
    _collect(inferred.graph, shapes, types)

    graph = inferred.graph
    needed = [
        name
        for node in graph.node
        if node.op_type in (*MAC_OPS, *WEIGHT_INPUTS, *ELEMENTWISE_PARAM_OPS)
        for name in [*node.input, *node.output]
        if name and name not in shapes
    ]
    if needed:
        needed = list(dict.fromkeys(needed))
        ran = _run(inferred, needed, feeds)
        for name, value in zip(needed, ran, strict=True):
            shapes[name] = list(np.asarray(value).shape)
        result.notes.append(
            f"shapes of {len(needed)} tensors from onnxruntime (onnx's inference left them unknown)"
        )

    counter = _Counter(graph, shapes, types)
    for index, node in enumerate(graph.node):
        counter.mark(node)
        macs = counter.macs(node)
        weight, elementwise = counter.params(node)
        if node.op_type == "BatchNormalization":
            result.bn_channels += counter.numel(node.input[1], node)
        if macs or weight or elementwise:
            top = origin.get(node.output[0], tops.get(node.output[0], f"#{index}"))
            top_op = "If" if node.output[0] in origin else node.op_type
            result.macs += macs
            result.weight_params += weight
            result.elementwise_params += elementwise
            result.nodes.append(
                NodeCount(node.name, node.op_type, macs, weight + elementwise, top, top_op)
            )
    return result
