"""Control flow a graph decides before it runs: each ``If`` whose condition is known from the
graph's constants, its inputs' shapes and the values ``--input-value`` pins (silero-vad's
``If(sr == 16000)``) is replaced by the branch it takes, so that branch is counted as any
other nodes are.

:func:`fold_control_flow` is a pre-pass over a loaded ``ModelProto``, run by both readers
(``profile``'s :func:`~sepconv_cli.interchange.onnx_model.read_onnx` and export-spec's
:func:`~sepconv_cli.interchange.spec_graph.load_graph`) right after the inputs are pinned:

* a condition is evaluated on demand from the small values it reads: initializers and
  ``Constant`` nodes of at most :data:`VALUE_LIMIT` elements, the pinned inputs' values,
  ``Shape``/``Size`` of a tensor whose shape is known (an input's, then what onnx's shape
  inference finds), and any node over those (``onnx.reference``, one node at a time, and
  only where its plan, :func:`~sepconv_cli.interchange.onnx_fold_size.plan`, knows its
  outputs to hold at most :data:`VALUE_LIMIT` values);
* a folded ``If`` becomes its taken branch's nodes, in its place: the branch's initializers
  join the graph's, its names that clash with the graph's take a prefix (the ``If``'s name),
  the names it reads from the outer scope stay, and its outputs become the ``If``'s (renamed,
  or linked by an ``Identity``). An ``If`` inside the branch is folded in turn;
* an input given a value becomes a ``Constant`` node (its value is the graph's, from then
  on), and a literal dim below 1 (Paddle's ``-1``) in an input, output or value_info is
  cleared to an unknown dim, so onnx's strict shape inference reads the graph.

An ``If`` that cannot be decided, ``Loop`` and ``Scan`` stay: the readers name them as not
counted. A graph with nothing to fold is returned as it is, not copied: the check is one scan
of its nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from sepconv_cli.interchange.onnx_fold_size import NeedsValue, Operand, plan
from sepconv_cli.interchange.onnx_inputs import InputValue
from sepconv_cli.interchange.onnx_load import Shape, onnx_inferred_shapes, tensor_array
from sepconv_cli.interchange.optional import require, require_onnx

VALUE_LIMIT = 4096
"""Largest tensor (in elements) whose value is read or computed to decide a condition:
shapes and small constants, never weights."""

INFERENCE_ROUNDS = 8
"""How many times onnx's shape inference runs to learn the shapes conditions read (each
folded ``If`` may let it see further)."""

# nodes never evaluated here: control flow, random draws, and the layers that carry MACs
# or grow a tensor (a condition needs none of them)
_NOT_EVALUATED = frozenset(
    {"If", "Loop", "Scan", "Multinomial", "Bernoulli", "Pad", "Resize", "Upsample"}
    | {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"}
    | {"Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "LSTM", "GRU", "RNN"}
)
_GRAPH, _GRAPHS = 5, 10  # AttributeProto.GRAPH, GRAPHS


def fold_control_flow(
    model: Any,
    path: Path,
    shapes: Mapping[str, Shape],
    values: Mapping[str, InputValue],
    notes: list[str],
) -> Any:
    """``model`` with every decidable ``If`` replaced by the branch it takes (a new
    ``ModelProto``; ``model`` itself when there is nothing to change). ``shapes``: every
    input's pinned shape (:func:`~sepconv_cli.interchange.onnx_inputs.pin_inputs`);
    ``values``: the inputs ``--input-value`` gives. Notes for stderr say what was folded."""
    graph = model.graph
    has_if = any(node.op_type == "If" for node in graph.node)
    if not has_if and not values and next(_literal_unknowns(graph), None) is None:
        return model
    onnx = require_onnx()
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _clear_literal_dims(out.graph)
    arrays = _value_arrays(out.graph, values, shapes, onnx)
    nodes = [
        onnx.helper.make_node(
            "Constant",
            [],
            [name],
            name=f"input_value/{name}",
            value=onnx.numpy_helper.from_array(array, name),
        )
        for name, array in arrays.items()
    ]
    nodes += list(out.graph.node)
    if has_if:
        opsets = {o.domain or "": o.version for o in out.opset_import}
        initializers = {t.name: t for t in out.graph.initializer}
        known = _Known(path.parent, opsets, dict(shapes), initializers)
        known.values.update(arrays)
        known.deps.update((name, frozenset({name})) for name in arrays)
        _fold_ifs(out, path, nodes, known, values, notes)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    return out


def _fold_ifs(
    model: Any,
    path: Path,
    nodes: list[Any],
    known: _Known,
    values: Mapping[str, InputValue],
    notes: list[str],
) -> None:
    """Fold the decidable ``If`` nodes of ``nodes`` in place, learning shapes from onnx's
    inference between passes while a condition waits on one."""
    used = _occurrences(model.graph)
    folded: list[tuple[str, str, frozenset[str]]] = []
    rounds = 0
    while True:
        known.producers = {o: n for n in nodes for o in n.output if o}
        known.failed.clear()
        known.shape_missing = False
        before = len(folded)
        _one_pass(model, nodes, known, used, folded)
        left = any(n.op_type == "If" for n in nodes)
        if not left or not known.shape_missing or rounds == INFERENCE_ROUNDS:
            break
        if rounds and len(folded) == before:
            break  # the last inference taught nothing a condition needed
        rounds += 1
        inferred, _ = onnx_inferred_shapes(_with_values(model, nodes, known), known.pinned)
        known.shapes.update(inferred)
    by_shapes = 0
    for name, branch, deps in folded:
        if deps:
            on = " and ".join(values[d].describe(d) for d in sorted(deps))
            notes.append(
                f"sepconv: note: {path}: If {name!r} on {on} takes its {branch}: that branch "
                "is counted, the other is not"
            )
        else:
            by_shapes += 1
    if by_shapes:
        notes.append(
            f"sepconv: note: {path}: {by_shapes} If node(s) decided by the shapes and "
            "constants of the graph: each replaced by the branch it takes"
        )
    _hint_unfolded(path, nodes, known, notes)


def _one_pass(
    model: Any,
    nodes: list[Any],
    known: _Known,
    used: Counter[str],
    folded: list[tuple[str, str, frozenset[str]]],
) -> None:
    """One walk of ``nodes``: each ``If`` whose condition is known is replaced, in place, by
    its taken branch, whose nodes are walked next (an ``If`` inside folds in turn)."""
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if node.op_type != "If" or node.domain not in ("", "ai.onnx") or not node.input:
            i += 1
            continue
        cond = known.value(node.input[0])
        branch = None
        if cond is not None and cond.size == 1:
            branch = "then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"
        sub = next((a.g for a in node.attribute if a.name == branch), None)
        if sub is None or len(sub.output) != len(node.output) or len(sub.sparse_initializer):
            i += 1
            continue
        used.subtract(_node_names(node))  # the If and both its branches leave the graph
        inlined, initializers = _inline(node, sub, used)
        for new in inlined:
            used.update(_node_names(new))
        used.update(t.name for t in initializers)
        model.graph.initializer.extend(initializers)
        for tensor in initializers:
            known.initializers[tensor.name] = tensor
        nodes[i : i + 1] = inlined
        for new in inlined:
            known.producers.update((o, new) for o in new.output if o)
        known.failed.clear()  # the If's outputs have producers now
        deps = known.deps.get(node.input[0], frozenset())
        folded.append((node.name or f"#{i}", branch or "", deps))


@dataclass
class _Known:
    """The values known so far, computed on demand, and where each one came from."""

    base_dir: Path
    opsets: dict[str, int]
    pinned: dict[str, Shape]
    initializers: dict[str, Any]
    shapes: dict[str, Shape] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, frozenset[str]] = field(default_factory=dict)  # the valued inputs read
    failed: set[str] = field(default_factory=set)
    producers: dict[str, Any] = field(default_factory=dict)
    shape_missing: bool = False  # a Shape or Size met a tensor of unknown shape

    def __post_init__(self) -> None:
        self.shapes.update(self.pinned)
        for name, tensor in self.initializers.items():
            self.shapes.setdefault(name, tuple(tensor.dims))

    def value(self, name: str) -> Any | None:
        """The value of tensor ``name`` when it is computable from what is known, else None
        (an explicit stack: a condition may read far back)."""
        stack, expanded = [name], set()
        while stack:
            top = stack[-1]
            if not top or top in self.values or top in self.failed:
                stack.pop()
                continue
            node = self.producers.get(top)
            if node is None:
                self._leaf(top)
                stack.pop()
                continue
            inputs = [] if node.op_type in ("Shape", "Size") else [n for n in node.input if n]
            missing = [n for n in dict.fromkeys(inputs) if n not in self.values]
            blocked = (
                node.op_type in _NOT_EVALUATED
                or node.domain not in ("", "ai.onnx")
                or any(n in self.failed for n in missing)
                or (missing and top in expanded)  # a cycle: not a valid graph
            )
            if blocked:
                self.failed.update(o for o in node.output if o)
            elif missing:
                expanded.add(top)
                stack.extend(missing)
                continue
            else:
                self._evaluate(node, inputs)
            stack.pop()
        return self.values.get(name)

    def _leaf(self, name: str) -> None:
        tensor = self.initializers.get(name)
        try:
            dims = tuple(tensor.dims) if tensor is not None else (-1,)
            if min(dims, default=0) >= 0 and prod(dims) <= VALUE_LIMIT:
                self.values[name] = tensor_array(tensor, self.base_dir)
                self.deps[name] = frozenset()
                return
        except (OSError, ValueError):  # its external data is missing, or its data is short
            pass
        self.failed.add(name)  # a weight, or an input given no value

    def _evaluate(self, node: Any, inputs: list[str]) -> None:
        outputs = [o for o in node.output if o]
        results = self._run(node, inputs)
        deps = frozenset().union(*(self.deps.get(n, frozenset()) for n in inputs))
        for k, output in enumerate(outputs):
            result = results[k] if results is not None and k < len(results) else None
            if result is None or np.asarray(result).size > VALUE_LIMIT:
                self.failed.add(output)
            else:
                self.values[output] = np.asarray(result)
                self.deps[output] = deps

    def _run(self, node: Any, inputs: list[str]) -> list[Any] | None:
        if node.op_type in ("Shape", "Size"):
            known = self.values.get(node.input[0])
            shape = self.shapes.get(node.input[0], None if known is None else known.shape)
            if shape is None:
                self.shape_missing = True
                return None
            if max(shape, default=0) > _INT64_MAX or prod(shape) > _INT64_MAX:
                return None  # a dim (or size) no int64 holds: unknown
            if node.op_type == "Size":
                return [np.array(prod(shape), np.int64)]
            attrs = {a.name: a.i for a in node.attribute}
            start, end = attrs.get("start", 0), attrs.get("end", len(shape))
            return [np.array(shape[start:end], np.int64)]
        # the plan first: a node with no rule, or whose outputs, work or integers would run
        # past their bounds (a 186-byte ConstantOfShape asks for ten billion values), is
        # never evaluated
        ops = [
            Operand(tuple(self.values[n].shape), self.values[n]) if n else None for n in node.input
        ]
        try:
            planned = plan(node, ops, VALUE_LIMIT)
        except NeedsValue:
            return None
        if planned is None or planned.refusal:
            return None
        reference = require("onnx.reference")
        try:
            evaluator = reference.ReferenceEvaluator(node, opsets=self.opsets)
            return list(evaluator.run(None, {n: self.values[n] for n in inputs}))
        except Exception:  # an op the reference runtime lacks, a bad value: unknown
            return None


_INT64_MAX = 2**63 - 1


def _with_values(model: Any, nodes: list[Any], known: _Known) -> Any:
    """A copy of ``model`` made of ``nodes`` for onnx's shape inference, each node whose
    outputs' values are known replaced by initializers that hold them: its data
    propagation does not reach through every op (a Pad's computed pads), this does."""
    onnx = require_onnx()
    for node in nodes:
        for output in node.output:
            known.value(output)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.node[:]
    present = {t.name for t in copy.graph.initializer}
    for node in nodes:
        outputs = [o for o in node.output if o]
        if not outputs or any(o not in known.values for o in outputs):
            copy.graph.node.append(node)
            continue
        for output in outputs:
            if output not in present:
                copy.graph.initializer.append(
                    onnx.numpy_helper.from_array(np.asarray(known.values[output]), output)
                )
    return copy


def _inline(node: Any, branch: Any, used: Counter[str]) -> tuple[list[Any], list[Any]]:
    """The nodes and initializers that replace ``If`` ``node`` by its subgraph ``branch``:
    the branch's own names that clash with ``used`` prefixed with the If's name, its
    outputs written as the If's outputs (or copied to them by an ``Identity``)."""
    onnx = require_onnx()
    prefix = f"{node.name or 'If'}/"
    produced = {o for n in branch.node for o in n.output if o}
    own = [t.name for t in branch.initializer] + sorted(produced)
    taken = set(own)
    mapping: dict[str, str] = {}
    for name in own:
        if used[name] > 0:  # the name is the graph's too, or a remaining subgraph's
            new, k = prefix + name, 1
            while used[new] > 0 or new in taken:
                new, k = f"{prefix}{k}/{name}", k + 1
            mapping[name] = new
            taken.add(new)
    links: list[tuple[str, str]] = []
    for target, source in zip(node.output, [o.name for o in branch.output], strict=True):
        if not target:
            continue
        if source in produced:
            mapping[source] = target  # the branch's node writes the If's output itself
            produced.discard(source)
        else:  # an outer-scope tensor, an initializer, or an output given twice
            links.append((source, target))
    inlined = []
    for inner in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.input[:] = [mapping.get(n, n) for n in copy.input]
        copy.output[:] = [mapping.get(n, n) for n in copy.output]
        for sub in _subgraphs(copy):
            _rename_outer(sub, mapping)
        inlined.append(copy)
    for source, target in links:
        inlined.append(
            onnx.helper.make_node(
                "Identity", [mapping.get(source, source)], [target], name=f"{prefix}{target}"
            )
        )
    initializers = []
    for tensor in branch.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = mapping.get(tensor.name, tensor.name)
        initializers.append(copy)
    return inlined, initializers


def _rename_outer(graph: Any, mapping: Mapping[str, str]) -> None:
    """Rename, in a nested subgraph, the names it reads from the outer scope."""
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    outer = {k: v for k, v in mapping.items() if k not in local}
    if not outer:
        return
    for node in graph.node:
        node.input[:] = [outer.get(n, n) for n in node.input]
        for sub in _subgraphs(node):
            _rename_outer(sub, outer)
    for value in (*graph.output, *graph.value_info):
        value.name = outer.get(value.name, value.name)


def _subgraphs(node: Any) -> Iterator[Any]:
    for attribute in node.attribute:
        if attribute.type == _GRAPH:
            yield attribute.g
        elif attribute.type == _GRAPHS:
            yield from attribute.graphs


def _occurrences(graph: Any) -> Counter[str]:
    """How often each tensor name occurs in ``graph`` and its subgraphs."""
    count: Counter[str] = Counter(v.name for v in (*graph.input, *graph.output, *graph.value_info))
    count.update(t.name for t in graph.initializer)
    for node in graph.node:
        count.update(_node_names(node))
    return count


def _node_names(node: Any) -> Counter[str]:
    """The tensor names ``node`` reads and writes, its subgraphs' included."""
    count: Counter[str] = Counter(n for n in (*node.input, *node.output) if n)
    for sub in _subgraphs(node):
        count.update(_occurrences(sub))
    return count


def _value_arrays(
    graph: Any, values: Mapping[str, InputValue], shapes: Mapping[str, Shape], onnx: Any
) -> dict[str, Any]:
    """Each input given a value, taken out of the graph's inputs: {name: its value, in the
    input's element type and pinned shape}."""
    arrays: dict[str, Any] = {}
    for i in reversed(range(len(graph.input))):
        value = graph.input[i]
        if value.name not in values:
            continue
        elem = value.type.tensor_type.elem_type or onnx.TensorProto.FLOAT
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
        number = np.array(values[value.name].numbers)
        arrays[value.name] = number.astype(dtype).reshape(shapes[value.name])
        del graph.input[i]
    return dict(reversed(arrays.items()))


def _literal_unknowns(graph: Any) -> Iterator[Any]:
    """The dims an input, output or value_info of ``graph`` writes as a literal below 1."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.HasField("tensor_type"):
            dims = value.type.tensor_type.shape.dim
            yield from (d for d in dims if d.HasField("dim_value") and d.dim_value < 1)


def _clear_literal_dims(graph: Any) -> None:
    """Every literal dim below 1 in ``graph`` and its subgraphs cleared to an unknown dim."""
    for dim in list(_literal_unknowns(graph)):
        dim.Clear()
    for node in graph.node:
        for sub in _subgraphs(node):
            _clear_literal_dims(sub)


def _hint_unfolded(path: Path, nodes: list[Any], known: _Known, notes: list[str]) -> None:
    """For each ``If`` left whose condition reads a small graph input given no value, a note
    naming ``--input-value``."""
    inputs = {
        name: shape
        for name, shape in known.pinned.items()
        if name not in known.values and len(shape) <= 1 and prod(shape) <= VALUE_LIMIT
    }
    for node in nodes:
        if node.op_type != "If" or not node.input:
            continue
        reads = _reached_inputs(node.input[0], known.producers, inputs)
        if reads:
            name = reads[0]
            notes.append(
                f"sepconv: note: {path}: If {node.name or '(unnamed)'!r} depends on input "
                f"{name!r}: --input-value {name}=V counts the branch that value takes"
            )


def _reached_inputs(
    start: str, producers: Mapping[str, Any], inputs: Mapping[str, Shape], limit: int = 10_000
) -> list[str]:
    """The inputs among ``inputs`` that tensor ``start`` is computed from (a bounded walk)."""
    seen, stack, found = {start}, [start], []
    while stack and len(seen) < limit:
        name = stack.pop()
        if name in inputs:
            found.append(name)
        node = producers.get(name)
        for source in node.input if node is not None else ():
            if source and source not in seen:
                seen.add(source)
                stack.append(source)
    return sorted(found)
