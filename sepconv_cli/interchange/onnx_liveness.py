"""Peak activation memory of an ONNX graph, by the liveness rule of
:mod:`sepconv_cli.counting.liveness` (stated in ``counting/conventions.py``): the walk over
the file's nodes in their order, and each form's change to the file's convolutions.

* :func:`visit_all` walks every node (:func:`~sepconv_cli.interchange.onnx_walk.visit`)
  and notes which row each node made or joined, so each step's tensors are charged to a
  row (a node of no row: to the row before it).
* :func:`file_lives` then walks the nodes once per form. A tensor is computed when it
  comes from a graph input (weights, constants and shapes are not activations). A node is
  a step reading its computed inputs and writing its computed outputs, except that:

  - a view (``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Identity``,
    ``Dropout``) and a part (``Split``, ``Slice``) is its input's tensor, no step;
  - a batch-norm, an activation function (``Relu``, ``Clip``, ``Sigmoid``, … and
    ``x·σ(x)``, ``x·hσ(x)`` and the GELU exporters write out over five nodes) and
    arithmetic with a constant (a bias, a scale) works in place when its input was written
    by a step and nothing else reads it: its output is that tensor, no step;
  - in the standard and separable forms a row's convolutions change where the form makes
    one conv two (the depthwise output is a tensor more) or two one (a depthwise and its
    1×1 as one dense conv: the tensors between them are gone).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

from sepconv_cli.counting.liveness import Live, Walker, intermediate_change
from sepconv_cli.interchange.onnx_nodes import ACTIVATIONS, written_out_gelu
from sepconv_cli.interchange.onnx_walk import visit
from sepconv_cli.interchange.onnx_walk_state import Walk

VIEWS = frozenset(
    {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Split", "Slice"}
    | {"QuantizeLinear", "DequantizeLinear"}
)
"""Nodes whose outputs are their first input's values, or a part of them: no step."""

IN_PLACE = frozenset(ACTIVATIONS) | {"Clip", "PRelu", "BatchNormalization"}
"""Nodes done in place when their input was written by a step and nothing else reads it."""

ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Div"})
"""In place as :data:`IN_PLACE` is, when every other operand is a constant."""

CONVS = frozenset({"Conv", "MatMul", "Gemm"})
"""The nodes a depthwise-separable row's convolutions are (its 1×1 may be a MatMul)."""

SHAPE_ONLY = frozenset({"Shape", "Size"})
"""Nodes that read only their input's shape: their output is no activation."""


def visit_all(walk: Walk, nodes: Sequence[Any]) -> list[int]:
    """Walk every node (as ``read_onnx`` always did) and return, per node, the row it made
    or joined (an index into ``walk.rows`` once the walk is done), -1 for none."""
    owners: list[int] = []
    made: dict[int, int] = {}  # row → the node that appended it
    for i, node in enumerate(nodes):
        before = len(walk.rows)
        if i not in walk.skip:
            visit(walk, nodes, i)
        after = len(walk.rows)
        if after < before or (after == before and after and _merged(walk, node)):
            # a depthwise-separable pair joined its trailing rows into one (onnx_pairs):
            # the nodes since its first row's own are the pair's
            first = after - 1
            for k in range(made.get(first, 0), len(owners)):
                owners[k] = min(owners[k], first)
        if after > before:
            made[after - 1] = i
            owners.append(after - 1)
        else:
            out = next((o for o in node.output if o in walk.producer), None)
            owners.append(walk.producer[out] if out is not None else -1)
    return owners


def _merged(walk: Walk, node: Any) -> bool:
    """Whether visiting ``node`` joined rows (a pair's pointwise appended, then merged)."""
    out = node.output[0] if node.output else ""
    return walk.producer.get(out) == len(walk.rows) - 1 and node.op_type in CONVS


def file_lives(walk: Walk, nodes: Sequence[Any], owners: Sequence[int], proto: Any) -> list[Live]:
    """Each of ``walk.rows``' :data:`~sepconv_cli.counting.liveness.Live`: the most
    elements alive at any step charged to it, per form."""
    graph = _Graph(walk, nodes, proto)
    charged = _charged(owners, len(walk.rows))
    changes = [_changes(walk, owners, nodes, form) for form in range(3)]
    per_form = [graph.walk(charged, changes[form], len(walk.rows)) for form in range(3)]
    return [(a, s, p) for a, s, p in zip(*per_form, strict=True)]


def _charged(owners: Sequence[int], rows: int) -> list[int]:
    """The row each node's steps count for: its own, else the last row before it (the
    first row for the nodes before any)."""
    first = next((o for o in owners if o >= 0), 0)
    out, current = [], first
    for owner in owners:
        current = owner if 0 <= owner < rows else current
        out.append(current)
    return out


def _changes(
    walk: Walk, owners: Sequence[int], nodes: Sequence[Any], form: int
) -> dict[int, tuple[str, int]]:
    """Node → ``("split" | "join", elements)`` where form number ``form`` changes the
    file's convolutions: the first conv node of each such row."""
    out: dict[int, tuple[str, int]] = {}
    seen: set[int] = set()
    for i, owner in enumerate(owners):
        if owner < 0 or owner in seen or nodes[i].op_type != "Conv":
            continue
        seen.add(owner)
        row = walk.rows[owner]
        change = intermediate_change(row.forms, form)
        if change is not None:
            items = row.batch if row.batch is not None else walk.batch
            out[i] = (change[0], change[1] * items)
    return out


class _Graph:
    """The graph's computed tensors, their sizes and readers, and its written-out
    activations, shared by the walks of the three forms."""

    def __init__(self, walk: Walk, nodes: Sequence[Any], proto: Any) -> None:
        self.nodes = nodes
        self.readers = walk.readers
        weights = {t.name for t in proto.graph.initializer}
        self.inputs = [v.name for v in proto.graph.input if v.name not in weights]
        self.outputs = [v.name for v in proto.graph.output]
        self.computed: set[str] = set(self.inputs)
        for node in nodes:
            if node.op_type in SHAPE_ONLY:
                continue
            if any(t in self.computed for t in node.input if t):
                self.computed.update(t for t in node.output if t and t not in walk.tensors.values)
        self.shapes = walk.tensors.shapes
        # a written-out activation: its nodes by position → (the tensor it reads, its output)
        self.pattern: dict[int, tuple[str, str]] = {}
        position = {id(node): i for i, node in enumerate(nodes)}
        for node in nodes:
            for x in node.output:
                if x in self.computed:
                    self._find_pattern(walk, x, position)

    def size(self, tensor: str) -> int:
        dims = self.shapes.get(tensor)
        return prod(dims) if dims is not None and all(d >= 0 for d in dims) else 0

    def _find_pattern(self, walk: Walk, x: str, position: dict[int, int]) -> None:
        positions = self.readers.get(x, [])
        if len(positions) != 2 or min(positions) < 0:
            return
        readers = [self.nodes[i] for i in positions]
        gate = next((n for n in readers if n.op_type in ("Sigmoid", "HardSigmoid")), None)
        if gate is not None:  # x·σ(x), x·hσ(x)
            mul = readers[1] if readers[0] is gate else readers[0]
            after = self.readers.get(gate.output[0], [])
            if mul.op_type == "Mul" and set(mul.input) == {x, gate.output[0]} and len(after) == 1:
                for node in (gate, mul):
                    self.pattern[position[id(node)]] = (x, mul.output[0])
            return

        def nodes_reading(tensor: str) -> list[Any]:
            return [self.nodes[i] if i >= 0 else _Output() for i in self.readers.get(tensor, [])]

        def scalar(tensor: str) -> float | None:
            value = walk.tensors.value(tensor)
            return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

        gelu = written_out_gelu(x, nodes_reading, scalar, lambda a, b: a == b)
        if gelu is not None:
            for node in gelu:
                self.pattern[position[id(node)]] = (x, gelu[-1].output[0])

    def walk(
        self, charged: Sequence[int], changes: dict[int, tuple[str, int]], rows: int
    ) -> list[int]:
        """One form's walk: each row's most elements alive at once."""
        w = Walker()
        held: dict[str, int] = {t: w.tensor(self.size(t), given=True) for t in self.inputs}
        parent: dict[str, str] = {}  # a view's output → the tensor it views
        joined: dict[int, int] = {}  # a row whose convs are one in this form → its tensor
        for i, node in enumerate(self.nodes):
            row = charged[i]
            ins = [t for t in node.input if t in held]
            outs = [t for t in node.output if t in self.computed]
            if not ins or node.op_type in SHAPE_ONLY:
                w.step(row, ())
                continue
            reads = [held[t] for t in ins]
            if row in joined and all(t == joined[row] for t in reads):
                for t in outs:
                    held[t] = joined[row]  # between a joined pair's convs: nothing new
                w.step(row, reads)
                if node.op_type in CONVS:
                    del joined[row]
                continue
            if node.op_type in VIEWS or self._in_place(i, node, ins, held, parent, w):
                for t in outs:
                    held[t], parent[t] = reads[0], ins[0]
                w.step(row, reads)
                continue
            change = changes.get(i)
            if change is not None and change[0] == "split":
                middle = w.tensor(change[1])
                w.step(row, reads, (middle,))
                reads = [middle]
            if change is not None and change[0] == "join":
                joined[row] = w.tensor(change[1])
                written = [joined[row]]
                for t in outs:
                    held[t] = joined[row]
            else:
                written = [w.tensor(self.size(t)) for t in outs]
                held.update(zip(outs, written, strict=True))
            w.step(row, reads, written)
        for t in self.outputs:
            if t in held:
                w.keep(held[t])
        return w.row_peaks(rows)

    def _in_place(
        self,
        i: int,
        node: Any,
        ins: list[str],
        held: dict[str, int],
        parent: dict[str, str],
        w: Walker,
    ) -> bool:
        """Whether ``node`` works in place on its one computed input (the rule)."""
        pattern = self.pattern.get(i)
        if pattern is not None:
            x = pattern[0]
            return x in held and w.written[held[x]] and self._sole(x, parent, allowed=2)
        if len(ins) != 1 or not w.written[held[ins[0]]]:
            return False
        if node.op_type in ARITHMETIC:
            others = [t for t in node.input if t and t != ins[0]]
            if not others or any(t in self.computed for t in others):
                return False
        elif node.op_type not in IN_PLACE:
            return False
        return self._sole(ins[0], parent)

    def _sole(self, tensor: str, parent: dict[str, str], allowed: int = 1) -> bool:
        """``tensor`` is read ``allowed`` times at most, and so is every tensor it views."""
        while True:
            if len(self.readers.get(tensor, [])) > allowed:
                return False
            if tensor not in parent:
                return True
            tensor, allowed = parent[tensor], 1


class _Output:
    """A graph output among a tensor's readers: no node, so no pattern takes it."""

    op_type = ""
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
