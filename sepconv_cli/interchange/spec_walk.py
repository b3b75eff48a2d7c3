"""The graph walk: an ONNX graph as a tree of spec layers, from its input to its output.

Rules:

- The walk follows the data tensor from the graph input. A node with one data input is a
  layer (:mod:`~sepconv_cli.interchange.spec_patterns`): a Conv takes the BatchNormalization
  and the activation that follow it alone (``batch_norm: true``, ``activation:``), and a
  zero ``Pad`` before it as its padding; an activation after any other layer becomes that
  layer's ``activation``.
- A tensor read by several nodes is a *fork*. A squeeze-and-excite and ``x·sigmoid(x)``
  are matched first; otherwise every branch is walked to the node where it joins the
  others. All branches must end at the same ``Add`` or ``Concat`` (channels), each at one of
  its inputs: an Add of two is a ``residual`` (the longer branch its ``layers``, the other
  its ``shortcut``, identity when empty), more is ``branches`` with ``merge: add``; a Concat
  is ``branches`` with ``merge: concat`` in the Concat's input order. A ``Split`` along
  channels whose outputs meet again at a Concat is ``branches`` with ``split``.
- A ``Transpose`` that moves the channels last (NCHW → NHWC) opens a channels-last region
  and the one that moves them back closes it: layout, not layers (the spec's shapes are
  channels-last throughout). Inside one, a ``LayerNormalization`` over the last dim is a
  ``layer_norm``, a ``MatMul`` by a ``(C, N)`` weight (+ its bias ``Add``) a ``pointwise``
  of N filters (a Linear on tokens), a ``Mul`` by one learned value per channel a
  ``layer_scale`` (as it is outside one): ConvNeXt's block and its ``LayerNorm2d``.
- A node the spec cannot express becomes a :class:`Note` at its place: when its output has
  its input's shape the walk goes on past it; otherwise (or at a join the spec cannot
  express) the walk stops there, and every node after it is named in a last note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sepconv_cli.interchange import spec_patterns as P
from sepconv_cli.interchange.spec_graph import Graph


@dataclass
class Note:
    """A part of the graph the spec cannot express: a YAML comment, and a stderr line per
    ``kind``."""

    kind: str
    text: str
    nodes: list[Any] = field(default_factory=list)


@dataclass
class Layer:
    """One spec layer: its fields in order, its nested lists, its caveat comments and the
    nodes it stands for."""

    fields: dict[str, Any]
    nodes: list[Any] = field(default_factory=list)
    layers: list[Item] | None = None
    shortcut: list[Item] | None = None
    branches: list[list[Item]] | None = None
    comments: list[str] = field(default_factory=list)


Item = Layer | Note


class Stop(Exception):
    """The walk cannot go on: the note says where and why."""

    def __init__(self, note: Note) -> None:
        super().__init__(note.text)
        self.note = note


def node_label(node: Any) -> str:
    return f"{node.name or node.output[0]} ({node.op_type})"


class Walker:
    """Walks one graph; :meth:`run` gives the top-level items."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index = {id(n): i for i, n in enumerate(graph.nodes)}
        # tensors held channels-last (after a Transpose that moves the channels last, as
        # ConvNeXt's blocks and LayerNorm2d do): their channels are the last dim
        self.last: set[str] = set()

    def run(self) -> list[Item]:
        """Every layer node is in an item: written, or named in a note."""
        items: list[Item] = []
        where = "not on the walk from the input"  # dead ends, other outputs
        try:
            items, _, join = self.walk(self.graph.input_name, None, items)
            if join is not None:
                raise Stop(self._dag_note([join], "a join of tensors from outside one fork"))
        except Stop as stop:
            items.append(stop.note)
            where = "after the stop"
        covered = {id(n) for n in covered_nodes(items)}
        rest = [n for n in self.graph.nodes if self.graph.is_layer_node(n) and id(n) not in covered]
        if rest:
            kinds = sorted({n.op_type for n in rest})
            items.append(
                Note(
                    "rest",
                    f"not written: {len(rest)} node(s) {where} ({', '.join(kinds)}): "
                    + ", ".join(node_label(n) for n in rest[:20])
                    + (" ..." if len(rest) > 20 else ""),
                    rest,
                )
            )
        return items

    def walk(self, tensor: str, entry: Any, items: list[Item]) -> tuple[list[Item], str, Any]:
        """Layers from ``tensor`` (starting at node ``entry`` when given) up to a join node,
        which is returned (None at the graph's end)."""
        g = self.graph
        while True:
            if entry is None:
                readers = g.readers(tensor)
                if not readers:
                    return items, tensor, None
                if len(readers) > 1:
                    tensor = self.fork(tensor, readers, items)
                    continue
                entry = readers[0]
            node, entry = entry, None
            if len(g.data_inputs(node)) > 1:
                return items, tensor, node
            tensor = self.step(node, tensor, items)

    def step(self, node: Any, tensor: str, items: list[Item]) -> str:
        """Write ``node`` (and the nodes its pattern takes); return the tensor after it."""
        g = self.graph
        name = P.layer_name(node, self.index[id(node)])
        op = node.op_type
        padded = P.zero_pad(g, node)
        if padded is not None:  # the Pad's zeros are the conv's padding
            conv, extra = padded
            return self.conv(conv, P.layer_name(conv, self.index[id(conv)]), items, [node], extra)
        layout = P.channel_transpose(g, node)
        if layout == "last" and g.tensor(tensor) not in self.last:
            items.append(Layer({}, [node]))  # no layer: the spec's shapes are channels-last
            self.last.add(g.tensor(node.output[0]))
            return str(node.output[0])
        if layout == "first" and g.tensor(tensor) in self.last:
            items.append(Layer({}, [node]))
            return str(node.output[0])
        if g.tensor(tensor) in self.last:
            out = self.channels_last(node, name, items)
            if out is not None:
                self.last.add(g.tensor(out))
                return out
        if op == "Mul" and len(g.shape(tensor)) > 1:
            scaled = P.layer_scale(node, g, g.shape(tensor)[1])
            if scaled is not None:
                # torch names the Mul after its block: the layer is the block's layer_scale
                items.append(Layer({**scaled, "name": f"{name}.layer_scale"}, [node]))
                return str(node.output[0])
        if op == "Conv":
            return self.conv(node, name, items)
        if op in ("MaxPool", "AveragePool"):
            pooled = P.pool(node, g)
            if pooled is not None:
                fields, comments = pooled
                layer = Layer({"type": "pool", "name": name, **fields}, [node], comments=comments)
                items.append(layer)
                return self._activation(items, node.output[0])
        glob = P.global_pool(node, g)
        if glob is not None:
            items.append(Layer({"type": "global_pool", "name": name, **glob}, [node]))
            return self._activation(items, node.output[0])
        if op in ("Gemm", "MatMul"):
            matched = P.dense(node, g)
            if matched is not None:
                fields, nodes = matched
                items.append(Layer({"type": "dense", "name": name, **fields}, nodes))
                return self._activation(items, str(nodes[-1].output[0]))
        shuffled = P.shuffle(g, node)
        if shuffled is not None:
            fields, nodes = shuffled
            items.append(Layer({"type": "shuffle", "name": name, **fields}, nodes))
            return str(nodes[-1].output[0])
        if P.is_flatten(g, node):
            items.append(Layer({}, [node]))  # no layer: dense flattens its input itself
            return str(node.output[0])
        if op == "Split" and P.attrs(node).get("axis", 0) % len(g.shape(tensor)) == 1:
            return self.split([node], list(node.output), items)
        act = P.activation(g, tensor)
        if act is not None and act[1][0] is node:
            last = _last_layer(items)
            if last is not None and "activation" not in last.fields and last.fields:
                last.fields["activation"] = act[0]
                last.nodes.extend(act[1])
                return act[2]
        return self.unsupported(node, tensor, items)

    def channels_last(self, node: Any, name: str, items: list[Item]) -> str | None:
        """A node on a channels-last tensor: a layer norm over the channels, a Linear on
        tokens (a pointwise conv), a layer scale; None for anything else."""
        g = self.graph
        fields = P.layer_norm(node, g)
        nodes = [node]
        if fields is None:
            linear = P.token_linear(node, g)
            if linear is not None:
                fields, nodes = linear
        if fields is None:
            fields = P.layer_scale(node, g, g.shape(node.input[0])[-1])
        if fields is None:
            return None
        items.append(Layer({"type": fields.pop("type"), "name": name, **fields}, nodes))
        return self._activation(items, str(nodes[-1].output[0]))

    def conv(
        self,
        node: Any,
        name: str,
        items: list[Item],
        before: list[Any] | None = None,
        extra: list[int] | None = None,
    ) -> str:
        """A Conv with the BatchNormalization and activation that follow it alone."""
        g = self.graph
        fields, comments = P.conv(node, g, extra)
        nodes, out = [*(before or []), node], node.output[0]
        readers = g.readers(out)
        if (
            len(readers) == 1
            and readers[0].op_type == "BatchNormalization"
            and out not in g.outputs
        ):
            fields["batch_norm"] = True
            nodes.append(readers[0])
            out = readers[0].output[0]
        layer = Layer({"type": fields.pop("type"), "name": name, **fields}, nodes)
        layer.comments.extend(comments)
        items.append(layer)
        return self._activation(items, out)

    def unsupported(self, node: Any, tensor: str, items: list[Item]) -> str:
        """A node the spec has no layer for: noted; passed over when it keeps the shape."""
        g = self.graph
        out = str(node.output[0])
        # extra outputs nothing reads (a training-mode BatchNormalization's running stats)
        # do not matter
        extra = [o for o in node.output[1:] if o and g.readers(o)]
        if not extra and out in g.shapes and g.shape(out) == g.shape(tensor):
            items.append(
                Note(
                    node.op_type,
                    f"{node_label(node)}: the spec has no {node.op_type}; not counted "
                    "(it keeps the shape: the layers after it are counted as in the model)",
                    [node],
                )
            )
            return out
        why = "has outputs read elsewhere" if extra else "changes the shape"
        raise Stop(
            Note(
                node.op_type,
                f"{node_label(node)}: the spec has no {node.op_type}, and it {why}: "
                "the spec stops here",
                [node],
            )
        )

    def _activation(self, items: list[Item], tensor: str) -> str:
        """Attach the activation that follows the last layer alone."""
        act = P.activation(self.graph, tensor)
        last = _last_layer(items)
        if act is None or last is None:
            return tensor
        last.fields["activation"] = act[0]
        last.nodes.extend(act[1])
        return act[2]

    def fork(self, tensor: str, readers: list[Any], items: list[Item]) -> str:
        """A tensor read by several nodes: SE, x·gate(x), or branches that join again."""
        g = self.graph
        se = P.squeeze_excite(g, tensor)
        if se is not None:
            fields, nodes, comments = se
            name = P.layer_name(nodes[-1], self.index[id(nodes[-1])])
            items.append(
                Layer({"type": "squeeze_excite", "name": name, **fields}, nodes, comments=comments)
            )
            return self._activation(items, nodes[-1].output[0])
        act = P.activation(g, tensor)
        last = _last_layer(items)
        if act is not None and last is not None and "activation" not in last.fields:
            last.fields["activation"] = act[0]
            last.nodes.extend(act[1])
            return act[2]
        slices = P.channel_slices(g, tensor, readers)
        if slices is not None:
            return self.split(slices, [n.output[0] for n in slices], items)
        walked = [self.walk(tensor, reader, []) for reader in readers]
        join = walked[0][2]
        ends = [g.tensor(end) for _, end, _ in walked]
        if join is None or any(w[2] is not join for w in walked):
            raise Stop(self._dag_note(readers, f"the branches from {tensor!r} do not join again"))
        inputs = g.data_inputs(join)
        if sorted(ends) != sorted(inputs):
            raise Stop(self._dag_note([join], f"{join.op_type} joins tensors from outside"))
        branches = [walked[ends.index(t)][0] for t in inputs]
        return self.merge(join, branches, items)

    def merge(self, join: Any, branches: list[list[Item]], items: list[Item], **extra: Any) -> str:
        """The block a join ends: residual, or branches merged by add or concat."""
        g = self.graph
        name = P.layer_name(join, self.index[id(join)])
        rank = len(g.shape(join.output[0]))
        if join.op_type == "Add" and len(branches) == 2 and not extra:
            main, other = sorted(branches, key=lambda b: -len(_layers(b)))
            block = Layer({"type": "residual", "name": name}, [join], layers=_strip(main, name))
            if _layers(other):
                block.shortcut = _strip(other, name)
        elif join.op_type in ("Add", "Sum") or (
            join.op_type == "Concat" and P.attrs(join).get("axis", 1) % rank == 1
        ):
            merge = "concat" if join.op_type == "Concat" else "add"
            fields = {"type": "branches", "name": name, **extra, "merge": merge}
            prefixes = [f"{name}.branch{i}" for i in range(len(branches))]
            stripped = [_strip(b, p) for b, p in zip(branches, prefixes, strict=True)]
            block = Layer(fields, [join], branches=[_strip(b, name) for b in stripped])
        else:
            raise Stop(self._dag_note([join], f"{join.op_type} of branches"))
        items.append(block)
        return self._activation(items, join.output[0])

    def split(self, nodes: list[Any], parts: list[str], items: list[Item]) -> str:
        """Channel parts (a Split's outputs, or Slices in channel order) that meet again at
        one Concat in their order: ``branches`` with ``split`` (``true`` for equal parts)."""
        g = self.graph
        walked = [self.walk(out, None, []) for out in parts]
        join = walked[0][2]
        ends = [g.tensor(end) for _, end, _ in walked]
        if join is None or join.op_type != "Concat" or any(w[2] is not join for w in walked):
            raise Stop(self._dag_note(nodes, "channel parts that do not meet at one Concat"))
        if g.data_inputs(join) != ends:
            raise Stop(self._dag_note([join], "a Concat of channel parts out of their order"))
        sizes = [g.shape(out)[1] for out in parts]
        split: Any = True if len(set(sizes)) == 1 else sizes
        out = self.merge(join, [w[0] for w in walked], items, split=split)
        block = _last_layer(items)
        if block is not None:
            block.nodes.extend(nodes)
        return out

    def _dag_note(self, nodes: list[Any], why: str) -> Note:
        labels = ", ".join(node_label(n) for n in nodes[:6]) + (" ..." if len(nodes) > 6 else "")
        return Note("dag", f"{labels}: {why}; the spec cannot express this part of the graph")


def _last_layer(items: list[Item]) -> Layer | None:
    """The last real layer written in this list (not a note or a skipped flatten)."""
    for item in reversed(items):
        if isinstance(item, Layer) and item.fields:
            return item
        if isinstance(item, Note):
            return None
    return None


def _layers(items: list[Item]) -> list[Layer]:
    return [i for i in items if isinstance(i, Layer) and i.fields]


def _strip(items: list[Item], prefix: str) -> list[Item]:
    """Inner layer names without the block's own prefix (the spec adds it back)."""
    for item in items:
        if isinstance(item, Layer) and item.fields.get("name", "").startswith(prefix + "."):
            item.fields["name"] = item.fields["name"][len(prefix) + 1 :]
    return items


def covered_nodes(items: list[Item]) -> Iterator[Any]:
    """Every node an item stands for, nested blocks included."""
    for item in items:
        yield from item.nodes
        if isinstance(item, Layer):
            for nested in (item.layers, item.shortcut, *(item.branches or [])):
                if nested:
                    yield from covered_nodes(nested)
