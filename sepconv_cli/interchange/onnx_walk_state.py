"""The state of one walk over an ONNX graph's nodes (:class:`Walk`) and the rows it makes
(:class:`WalkRow`), with the rules every step reads: how a node's row is named, which
tensors a row produced alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sepconv_cli.counting.lowering import Forms
from sepconv_cli.counting.network import Uncounted
from sepconv_cli.interchange.onnx_load import Shape
from sepconv_cli.interchange.onnx_shapes import Tensors
from sepconv_cli.interchange.onnx_tensor_nodes import ELEMENTWISE_FLOPS, REDUCTIONS

MODULE_OPS = frozenset(
    {"Add", "Sub", "Mul", "Div", "Concat", "MatMul", "Einsum", "Softmax"}
    | set(ELEMENTWISE_FLOPS)
    | REDUCTIONS
)
"""Ops that are a step inside a module's forward (``/layer1/layer1.0/Add``), named after
the module plus the op; any other node is named after its module (``/conv1/Conv``)."""

RELABELS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
"""Data movement that keeps every value: an activation after one is still its row's."""

FILE_ORDER = frozenset({"dense", "matmul", "recurrent", "elementwise", "activation", "reduce"})
"""Row types whose operation has no channel axis of its own (a product, a function of every
value): their shapes read in the file's order, batch apart, not channels-last."""

MAC_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "LSTM", "GRU", "RNN"})
"""Nodes that carry multiply-accumulates: counted even when every input is a constant."""


@dataclass
class WalkRow:
    name: str
    type: str
    input_shape: Shape
    forms: Forms
    where: str
    spec: Any = None
    activation: str = "none"
    bias_free_matmul: bool = False
    batch: int | None = None  # the row's own items (windows in dim 0), when not the model's
    source: str = ""  # the tensor it reads (its first computed input)
    # a depthwise-separable pair (onnx_pairs): ``spec`` is then the pointwise's, and these
    # the depthwise's spec, the layer norm between them and the depthwise's activation
    pair_depthwise: Any = None
    pair_norm: Any = None
    inner_activation: str = "none"


@dataclass
class Walk:
    path: Path
    tensors: Tensors
    inferred: dict[str, Shape]
    readers: dict[str, list[int]]
    rows: list[WalkRow] = field(default_factory=list)
    producer: dict[str, int] = field(default_factory=dict)  # tensor -> row that made it
    uncounted: list[Uncounted] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)  # nodes already absorbed (a SiLU's Mul)
    all_nodes: bool = False  # data-movement and shape nodes get rows too (free ones)
    notes: list[str] = field(default_factory=list)  # for the report's footer
    fused_bn: int = 0
    written_bn: int = 0  # batch-norms written out as Mul then Add after a conv (tf2onnx)
    separate_bn: int = 0
    convs: int = 0
    # Constant nodes by output: a pattern may need a constant the walk has not reached yet
    constants: dict[str, Any] = field(default_factory=dict)
    batch: int = 1  # the model's: its first input's leading dim
    # a data-movement node's output → its input, when it is that input's only reader (a
    # classifier's Reshape before its Softmax): an activation still joins the row behind it
    alias: dict[str, str] = field(default_factory=dict)
    # a Transpose's output → its input, when it is that input's only reader: a pair's
    # depthwise and pointwise may have one or two between them (a layer norm on channels)
    moved: dict[str, str] = field(default_factory=dict)
    constant_work: list[str] = field(default_factory=list)  # MAC nodes on constants only
    # for the final check (onnx_audit): MACs the rows count for each MAC node, by position,
    # and the positions of the nodes named as not counted
    node_macs: dict[int, int] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)


def module_path(node: Any, index: int) -> str:
    """The row name: the exporter's module path (``/layer1/layer1.0/conv1/Conv`` →
    ``layer1.0.conv1``), else the node's name, else ``OpType_index``."""
    name = node.name or ""
    if name.startswith("/") and name.count("/") == 1:  # "/Flatten": an op of the top module
        return str(node.op_type).lower()
    if name.startswith("/") and name.count("/") >= 2:
        modules: list[str] = []
        for part in (p for p in name.split("/")[1:-1] if p):
            if modules and part.startswith(modules[-1] + "."):
                modules[-1] = part  # "layer1", "layer1.0": the second is the first's child
            else:
                modules.append(part)
        if modules:
            path = ".".join(modules)
            # an op inside a module (a residual add) rather than the module itself
            return f"{path}.{node.op_type.lower()}" if node.op_type in MODULE_OPS else path
    return name or f"{node.op_type}_{index}"


def only_reader(walk: Walk, tensor: str) -> int | None:
    """The row that produced ``tensor`` when nothing else reads it."""
    row = walk.producer.get(tensor)
    return row if row is not None and len(walk.readers.get(tensor, [])) == 1 else None


def row_through(walk: Walk, tensor: str) -> int | None:
    """The row that produced ``tensor`` alone, through Transposes that only move it."""
    while tensor not in walk.producer and tensor in walk.moved:
        tensor = walk.moved[tensor]
    return only_reader(walk, tensor)
