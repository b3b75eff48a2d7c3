"""The graph walk: an ONNX graph as a tree of spec layers, from its input to its output.

Rules:

- The walk follows the data tensor from the graph input. A node with one data input is a
  layer (:mod:`~sepconv_cli.interchange.spec_patterns`): a Conv takes its bias ``Add``, the
  batch-norm and the activation that follow it alone (``bias: true``, ``batch_norm: true``,
  ``activation:``; :mod:`~sepconv_cli.interchange.spec_blocks`), and a zero ``Pad`` before
  it as its padding; an activation after any other layer becomes that layer's
  ``activation`` (written out as several nodes too:
  :mod:`~sepconv_cli.interchange.spec_activations`). Any other spatial ``Pad`` is a
  ``pad``, a batch-norm of its own a ``batch_norm``, a ``PRelu`` a ``prelu``, arithmetic
  with a one-value constant an ``elementwise`` (so is an activation on a fork); a node that
  gives its input back (``x + 0``, a Slice of everything) is no layer.
- A tensor read by several nodes is a *fork* (:mod:`~sepconv_cli.interchange.spec_forks`).
  A squeeze-and-excite and ``x·sigmoid(x)`` are matched first; otherwise every branch is
  walked to the node where it joins the others. Branches that all end at one ``Add``,
  ``Mul``, ``Sub`` or ``Concat`` (channels), each at one of its inputs: an Add of two is a
  ``residual`` (the longer branch its ``layers``, the other its ``shortcut``, identity when
  empty), more is ``branches`` with ``merge: add``; a Mul or Sub of two is ``branches``
  with ``merge: mul`` or ``sub``; a Concat is ``branches`` with ``merge: concat`` in the
  Concat's input order. Branches summed by a tree of Adds are one ``merge: add``; branches
  that meet a few at a time are nested blocks; branches that each end at a graph output
  are ``merge: outputs``. A ``Split`` along channels whose outputs meet again at a Concat
  is ``branches`` with ``split``.
- A ``Transpose`` that moves the channels last (NCHW → NHWC) opens a channels-last region
  and the one that moves them back closes it: layout, not layers (the spec's shapes are
  channels-last throughout); an NHWC graph input (tf2onnx's, keras2onnx's) is one. Inside
  one, a ``LayerNormalization`` over the last dim is a ``layer_norm``, a ``MatMul`` by a
  ``(C, N)`` weight (+ its bias ``Add``) a ``pointwise`` of N filters (a Linear on
  tokens), a ``Mul`` by one learned value per channel a ``layer_scale`` (as it is outside
  one): ConvNeXt's block and its ``LayerNorm2d``.
- A ``Gemm`` or ``MatMul`` by a constant on rows of tokens (a CRNN's steps) is a
  ``pointwise`` (a Linear on each row), not a ``dense`` that would flatten them; a
  ``LayerNormalization`` of a dense head's ``(N, C)`` features is a ``layer_norm``.
- A tensor shape inference leaves without a shape stops the walk at the node that makes
  it (else the node reading it), named as not expressed; the last ``Reshape`` to the
  model's output, which nothing reads and which counts nothing, is passed over.
- A node the spec cannot express becomes a :class:`Note` at its place: when its output has
  its input's shape the walk goes on past it; otherwise (or at a join the spec cannot
  express) the walk stops there, and every node after it is named in a last note.
"""

from __future__ import annotations

from typing import Any

from sepconv_cli.interchange import spec_blocks as B
from sepconv_cli.interchange import spec_nodes as N
from sepconv_cli.interchange import spec_patterns as P
from sepconv_cli.interchange import spec_sequence as Q
from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_elementwise import elementwise_step
from sepconv_cli.interchange.spec_forks import Forks
from sepconv_cli.interchange.spec_graph import Graph, NoShape
from sepconv_cli.interchange.spec_items import (
    Item,
    Layer,
    Note,
    Stop,
    covered_nodes,
    last_layer,
    node_label,
)
from sepconv_cli.interchange.spec_more import more_step
from sepconv_cli.interchange.spec_tables import learned_step
from sepconv_cli.interchange.spec_tensor_walk import TensorSteps

__all__ = ["Item", "Layer", "Note", "Walker", "covered_nodes"]


class Walker(Forks, TensorSteps):
    """Walks one graph; :meth:`run` gives the top-level items."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index = {id(n): i for i, n in enumerate(graph.nodes)}
        # tensors held channels-last (after a Transpose that moves the channels last, as
        # ConvNeXt's blocks and LayerNorm2d do): their channels are the last dim
        self.last: set[str] = set()
        # tokens held with their whole ONNX shape (spec_tensors.py), a part of ``last``
        self.full: set[str] = set()
        self.apart: set[int] = set()  # Forks.attach

    def run(self) -> list[Item]:
        """Every layer node is in an item: written, or named in a note."""
        items: list[Item] = []
        where = "not on the walk from the input"  # dead ends, other outputs
        if self.graph.channels_last_input:  # NHWC: the Transposes after it are layout
            self.last.add(self.graph.tensor(self.graph.input_name))
        try:
            items, _, join = self.walk(self.graph.input_name, None, items)
            if join is not None:
                raise Stop(self._dag_note([join], "a join of tensors from outside one fork"))
        except NoShape as missing:
            items.append(no_shape(missing, None))
            where = "after the stop"
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
                    f"{where}, not written",
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
            before = tensor
            tensor = self.step(node, tensor, items)
            if (  # a layer that keeps a channels-last tensor's shape keeps it channels-last
                g.tensor(before) in self.last
                and P.channel_transpose(g, node) is None
                and g.shapes.get(g.tensor(tensor)) == g.shape(before)
            ):
                self.hold(tensor, self.layout(before))

    def step(self, node: Any, tensor: str, items: list[Item]) -> str:
        """Write ``node`` (and the nodes its pattern takes); return the tensor after it. A
        tensor shape inference left without a shape stops the walk at the node that makes
        it (or this one)."""
        try:
            return self._step(node, tensor, items)
        except NoShape as missing:
            out = str(node.output[0])
            if node.op_type in T.MOVES and missing.tensor == out and not self.graph.readers(out):
                # the last reshape to the model's output: it moves values, counts nothing
                items.append(Layer({}, [node]))
                return out
            raise Stop(no_shape(missing, node)) from None

    def _step(self, node: Any, tensor: str, items: list[Item]) -> str:
        g = self.graph
        name = P.layer_name(node, self.index[id(node)])
        op = node.op_type
        if op in T.IMAGE_OPS and g.tensor(tensor) in self.last:
            self.as_image(node, tensor, items)  # tokens read as an image (spec_tensor_walk)
        padded = N.zero_pad(g, node)
        if padded is not None:  # the Pad's zeros are the conv's padding
            conv, extra = padded
            return self.conv(conv, P.layer_name(conv, self.index[id(conv)]), items, [node], extra)
        if op == "Pad" and g.tensor(tensor) not in self.last:  # an image's spatial dims
            pads = N.spatial_pads(g, node)
            if pads is not None:
                items.append(Layer({"type": "pad", "name": name, "padding": pads}, [node]))
                return str(node.output[0])
        if N.keeps_tensor(g, node, tensor):  # a Slice of everything: no layer
            items.append(Layer({}, [node]))
            return str(node.output[0])
        if op in T.MOVES and g.tensor(tensor) in self.full:  # tokens: a reshape or transpose
            moved = self.tensor_step(node, tensor, name, items)
            if moved is not None:
                return moved
        layout = P.channel_transpose(g, node)
        if layout == "last" and g.tensor(tensor) not in self.last:
            items.append(Layer({}, [node]))  # no layer: the spec's shapes are channels-last
            self.last.add(g.tensor(node.output[0]))
            return str(node.output[0])
        if layout == "first" and g.tensor(tensor) in self.last:
            items.append(Layer({}, [node]))
            return str(node.output[0])
        # a channels-last tensor, or features (N, C) after a dense head: the channels last
        if g.tensor(tensor) in self.last or (
            op == "LayerNormalization" and len(g.shape(tensor)) == 2
        ):
            out = self.channels_last(node, name, items)
            if out is not None:
                self.hold(out, self.layout(tensor))
                return out
        norm = B.batch_norm_at(g, node, tensor, g.tensor(tensor) in self.last)
        if norm is not None:
            items.append(Layer({"type": "batch_norm", "name": name}, norm))
            return self._activation(items, str(norm[-1].output[0]))
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
                self.lift_items(node, fields)
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
                if g.tensor(tensor) in self.full and g.shape(tensor)[0] > 1:
                    # rows of tokens (a CRNN's steps): a Linear on each, the spec's pointwise
                    fields = {
                        "type": "pointwise",
                        "filters": fields["units"],
                        "bias": fields["bias"],
                    }
                items.append(Layer({**fields, "name": name}, nodes))
                return self._activation(items, str(nodes[-1].output[0]))
        shuffled = P.shuffle(g, node)
        if shuffled is not None:
            fields, nodes = shuffled
            items.append(Layer({"type": "shuffle", "name": name, **fields}, nodes))
            return str(nodes[-1].output[0])
        if P.is_flatten(g, node):
            items.append(Layer({}, [node]))  # no layer: dense flattens its input itself
            return str(node.output[0])
        if op == "Split":  # channel parts joined by one Concat, else parts of a fork
            axis = P.attrs(node).get("axis", 0) % len(g.shape(tensor))
            split = None
            if axis == 1 and g.tensor(tensor) not in self.last:
                split = self.split([node], list(node.output), items)
            split = split if split is not None else self.split_parts(node, tensor, items)
            if split is not None:
                return split
        more = more_step(self, node, tensor, name, items)  # reduce, conv_transpose, ...
        if more is not None:  # depth_to_space, a channel pad (spec_more.py)
            return more
        sequence = Q.sequence_step(self, node, tensor, name, items)  # resize, lstm, gru, rnn
        if sequence is not None:
            return sequence
        sequence = self.token_recurrent(node, tensor, name, items)  # a CRNN's LSTM
        if sequence is not None:
            return sequence
        moved = self.tensor_step(node, tensor, name, items)  # reshape, transpose, slice
        if moved is not None:
            return moved
        act = P.activation(g, tensor)
        if act is None and P.node_activation(g, node) is not None:  # on a fork: its own
            act = (str(P.node_activation(g, node)), [node], str(node.output[0]))
        if act is not None and any(n is node for n in act[1]):
            last = last_layer(items)
            if last is not None and "activation" not in last.fields and last.fields:
                self.attach(last, act, tensor)
            else:  # no layer before it in this list: an activation of its own
                items.append(
                    Layer({"type": "elementwise", "name": name, "activation": act[0]}, act[1])
                )
            return act[2]
        if op == "PRelu" and B.per_channel(g, node, tensor) is not None:
            items.append(Layer({"type": "prelu", "name": name}, [node]))
            return self._activation(items, str(node.output[0]))
        more = elementwise_step(self, node, tensor, name, items)  # pow, sqrt, expand, ...
        if more is not None:  # (spec_elementwise.py), after the activations written out
            return more
        learned = learned_step(self, node, tensor, name, items)  # a table (spec_tables.py)
        if learned is not None:
            return learned
        operation = N.arithmetic(g, node, tensor)
        if operation is not None:
            items.append(
                Layer({"type": "elementwise", "name": name, "operation": operation}, [node])
            )
            return self._activation(items, str(node.output[0]))
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
        self.lift_items(node, fields)
        tail, taken, out = B.conv_tail(g, node)
        fields.update(tail)
        nodes = [*(before or []), node, *taken]
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
                    f"the spec has no layer for {self._what(node)}",
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
                f"the spec has no layer for {self._what(node)}, and it {why}",
            )
        )

    def _what(self, node: Any) -> str:
        """``a Pow``; arithmetic with a learned tensor of several values (an attention-bias
        table the file holds: parameters to the reader) says so."""
        g = self.graph
        values = [g.constant(t) for t in node.input if t in g.weights]
        learned: list[Any] = [v for v in values if v is not None]
        if node.op_type in N.ARITHMETIC and learned and learned[0].size > 1:
            shape = "×".join(map(str, learned[0].shape))
            return f"a {node.op_type} of a learned {shape} tensor ({learned[0].size:,} parameters)"
        return f"a {node.op_type}"

    def _activation(self, items: list[Item], tensor: str) -> str:
        """Attach the activation that follows the last layer alone."""
        act = P.activation(self.graph, tensor)
        last = last_layer(items)
        if act is None or last is None:
            return tensor
        self.attach(last, act, tensor)
        self.hold(act[2], self.layout(tensor))  # an activation keeps the layout
        return act[2]


def no_shape(missing: NoShape, reader: Any) -> Note:
    """The note of a tensor shape inference left without a shape: at the node that makes it,
    else at ``reader``."""
    node = missing.node if missing.node is not None else reader
    why = f"shape inference left its tensor {missing.tensor!r} without a shape"
    if node is None:
        return Note("shape", str(missing), [], why)
    return Note("shape", f"{node_label(node)}: {why}: the spec stops here", [node], why)
