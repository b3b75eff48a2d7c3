"""Forks and joins of ``export-spec``'s walk: a tensor read by several nodes, and the
block its branches make where they meet again (:mod:`~sepconv_cli.interchange.spec_walk`'s
rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sepconv_cli.interchange import spec_blocks as B
from sepconv_cli.interchange import spec_patterns as P
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_items import (
    Item,
    Layer,
    Note,
    Stop,
    last_layer,
    layers_of,
    node_label,
    strip,
)
from sepconv_cli.interchange.spec_tensors import Layout

MERGES = {
    "Add": "add",
    "Sum": "add",
    "Mul": "mul",
    "Sub": "sub",
    "Div": "div",
    "Concat": "concat",
    "MatMul": "matmul",
}
PAIRWISE = ("Mul", "Sub", "Div", "MatMul")
"""Joins of exactly two branches (the first operand's, then the second's)."""


class Forks:
    """The fork and join methods of :class:`~sepconv_cli.interchange.spec_walk.Walker`."""

    graph: Graph
    index: dict[int, int]
    last: set[str]
    apart: set[int]  # layers whose activation the profile reader reads as rows (attach)

    def walk(self, tensor: str, entry: Any, items: list[Item]) -> tuple[list[Item], str, Any]:
        raise NotImplementedError

    def _activation(self, items: list[Item], tensor: str) -> str:
        raise NotImplementedError

    if TYPE_CHECKING:  # spec_tensor_walk.TensorSteps's, beside this class in the Walker

        def join_layout(self, join: Any, branches: list[list[Item]]) -> None: ...

        def layout(self, tensor: str) -> Layout: ...

        def hold(self, tensor: str, layout: Layout) -> None: ...

    def attach(self, layer: Layer, act: tuple[str, list[Any], str], tensor: str) -> None:
        """``act`` (on ``tensor``) becomes ``layer``'s activation. One the profile reader
        reads as rows of their own (written out as nodes other than one activation op,
        ``x·gate(x)`` or a GELU: paddle's ``x·clip(x + 3, 0, 6)/6``) is noted in ``apart``:
        a depthwise so activated is not paired with its 1×1 (:func:`keep_apart`)."""
        layer.fields["activation"] = act[0]
        layer.nodes.extend(act[1])
        nodes = act[1]
        ops = sorted(n.op_type for n in nodes)
        gate = len(nodes) == 2 and "Mul" in ops and any(op in P.GATES for op in ops)
        if len(nodes) > 1 and not gate and not P.is_written_out_gelu(self.graph, tensor):
            self.apart.add(id(layer))

    def fork(self, tensor: str, readers: list[Any], items: list[Item]) -> str:
        """A tensor read by several nodes: SE, x·gate(x), or branches that join again."""
        g = self.graph
        se = B.squeeze_excite(g, tensor)
        if se is not None:
            fields, nodes = se
            name = P.layer_name(nodes[-1], self.index[id(nodes[-1])])
            items.append(Layer({"type": "squeeze_excite", "name": name, **fields}, nodes))
            return self._activation(items, nodes[-1].output[0])
        act = P.activation(g, tensor)
        last = last_layer(items)
        if act is not None and last is not None and "activation" not in last.fields:
            self.attach(last, act, tensor)
            self.hold(act[2], self.layout(tensor))
            return act[2]
        slices = P.channel_slices(g, tensor, readers)
        if slices is not None and g.tensor(tensor) not in self.last:
            split = self.split(slices, [n.output[0] for n in slices], items)
            if split is not None:
                return split
        walked = [self.walk(tensor, reader, []) for reader in readers]
        join = walked[0][2]
        ends = [g.tensor(end) for _, end, _ in walked]
        if all(w[2] is None for w in walked) and all(end in g.outputs for end in ends):
            # each branch ends at one of the model's outputs (a detector's heads)
            name = "heads"
            prefixes = [f"{name}.branch{i}" for i in range(len(walked))]
            branches = [strip(w[0], p) for w, p in zip(walked, prefixes, strict=True)]
            fields = {"type": "branches", "name": name, "merge": "outputs"}
            items.append(Layer(fields, [], branches=branches))
            return ends[-1]
        if join is not None and all(w[2] is join for w in walked):
            inputs = g.data_inputs(join)
            if sorted(ends) != sorted(inputs):
                raise Stop(self._dag_note([join], f"{join.op_type} joins tensors from outside"))
            branches = [walked[ends.index(t)][0] for t in inputs]
            return self.merge(join, branches, items)
        tree = self.sum_tree(walked)
        if tree is not None:
            root, inner, branches = tree
            return self.merge(root, branches, items, inner)
        return self.nested(tensor, readers, walked, items)

    def nested(
        self,
        tensor: str,
        readers: list[Any],
        walked: list[tuple[list[Item], str, Any]],
        items: list[Item],
    ) -> str:
        """Branches that meet a few at a time: the first join all of whose inputs are
        branch ends becomes a block, the walk goes on from it to its next join as one
        branch, until one branch is left (FastViT's ``x + s·(mixer(x) − norm(x))``, where
        ``mixer`` sums three branches). Nested blocks, each from the fork's input."""
        g = self.graph
        pending: list[tuple[list[Item], str, Any]] = []  # (branch, end tensor, join)

        def add(branch: list[Item], end: str, join: Any) -> None:
            if join is None:
                why = f"the branches from {tensor!r} do not join again"
                raise Stop(self._dag_note(readers, why))
            pending.append((branch, g.tensor(end), join))

        def parts(join: Any) -> list[int] | None:
            """The pending branches that are ``join``'s inputs, in its input order."""
            chosen: list[int] = []
            for t in g.data_inputs(join):
                match = next(
                    (
                        i
                        for i, (_, end, j) in enumerate(pending)
                        if end == t and j is join and i not in chosen
                    ),
                    None,
                )
                if match is None:
                    return None
                chosen.append(match)
            return chosen if len(chosen) >= 2 else None

        for branch, end, join in walked:
            add(branch, end, join)
        while True:
            ready = next(((j, p) for _, _, j in pending if (p := parts(j)) is not None), None)
            if ready is None:
                joins = [join for _, _, join in pending]
                raise Stop(self._dag_note(joins, "a join of tensors from outside one fork"))
            join, chosen = ready
            branches = [pending[i][0] for i in chosen]
            pending[:] = [p for i, p in enumerate(pending) if i not in chosen]
            merged: list[Item] = []
            out = self.merge(join, branches, merged)
            if not pending:
                items.extend(merged)
                return out
            add(*self.walk(out, None, merged))

    def sum_tree(self, walked: list[tuple[list[Item], str, Any]]) -> Any:
        """Branches that meet at a tree of ``Add`` nodes, each intermediate sum read only by
        the next (``a + b + c``: MobileOne's and RepViT's re-parameterizable branches): (the
        last Add, the others, the branches in the order the tree adds them), or None."""
        g = self.graph
        pending: dict[str, list[list[Item]]] = {}
        for branch, end, _ in walked:
            if g.tensor(end) in pending:
                return None
            pending[g.tensor(end)] = [branch]
        candidates = [w[2] for w in walked if w[2] is not None]
        joins: list[Any] = []
        progress = True
        while progress:
            progress = False
            unique = {id(n): n for n in candidates}
            for join in unique.values():
                inputs = g.data_inputs(join)
                if join.op_type not in ("Add", "Sum") or any(join is j for j in joins):
                    continue
                if len(inputs) != len([t for t in join.input if t]) or len(set(inputs)) < 2:
                    continue
                if not all(t in pending for t in inputs) or len(set(inputs)) != len(inputs):
                    continue
                out = g.tensor(join.output[0])
                pending[out] = [b for t in inputs for b in pending.pop(t)]
                joins.append(join)
                readers = g.readers(out)
                if len(readers) == 1 and out not in g.outputs:
                    candidates.append(readers[0])
                progress = True
        if len(pending) != 1 or len(joins) < 2:
            return None
        (branches,) = pending.values()
        return joins[-1], joins[:-1], branches

    def merge(
        self,
        join: Any,
        branches: list[list[Item]],
        items: list[Item],
        inner: list[Any] | None = None,
        **extra: Any,
    ) -> str:
        """The block a join ends: residual, or branches merged by add, mul or concat;
        ``inner``: the other Adds of a sum of more than two branches."""
        g = self.graph
        name = P.layer_name(join, self.index[id(join)])
        rank = len(g.shape(join.output[0]))
        self.join_layout(join, branches)  # tokens or image, as the join reads them
        if join.op_type == "Add" and len(branches) == 2 and not extra:
            main, other = sorted(branches, key=lambda b: -len(layers_of(b)))
            block = Layer({"type": "residual", "name": name}, [join], layers=strip(main, name))
            if layers_of(other):
                block.shortcut = strip(other, name)
        elif (
            join.op_type in ("Add", "Sum")
            or (join.op_type in PAIRWISE and len(branches) == 2 and not extra)
            or (join.op_type == "Concat" and P.attrs(join).get("axis", 1) % rank == 1)
        ):
            merge = MERGES[join.op_type]
            fields = {"type": "branches", "name": name, **extra, "merge": merge}
            prefixes = [f"{name}.branch{i}" for i in range(len(branches))]
            stripped = [strip(b, p) for b, p in zip(branches, prefixes, strict=True)]
            nodes = [*(inner or []), join]
            block = Layer(fields, nodes, branches=[strip(b, name) for b in stripped])
        else:
            raise Stop(self._dag_note([join], f"a {join.op_type} of branches"))
        items.append(block)
        return self._activation(items, join.output[0])

    def split(self, nodes: list[Any], parts: list[str], items: list[Item]) -> str | None:
        """Channel parts (a Split's outputs, or Slices in channel order) that meet again at
        one Concat in their order: ``branches`` with ``split`` (``true`` for equal parts);
        None when they do not (the walk then slices each part: spec_tensor_walk)."""
        g = self.graph
        walked = [self.walk(out, None, []) for out in parts]
        join = walked[0][2]
        ends = [g.tensor(end) for _, end, _ in walked]
        if join is None or join.op_type != "Concat" or any(w[2] is not join for w in walked):
            return None
        if g.data_inputs(join) != ends:
            return None
        sizes = [g.shape(out)[1] for out in parts]
        split: Any = True if len(set(sizes)) == 1 else sizes
        out = self.merge(join, [w[0] for w in walked], items, split=split)
        block = last_layer(items)
        if block is not None:
            block.nodes.extend(nodes)
        return out

    def _dag_note(self, nodes: list[Any], why: str) -> Note:
        labels = ", ".join(node_label(n) for n in nodes[:6]) + (" ..." if len(nodes) > 6 else "")
        return Note(
            "dag", f"{labels}: {why}; the spec cannot express this part of the graph", nodes, why
        )
