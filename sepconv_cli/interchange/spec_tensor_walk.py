"""The walk's steps for tokens and crops (issue 21): the nodes that move or cut a tensor
(:mod:`~sepconv_cli.interchange.spec_tensors`), a ``Split`` along other than the image's
channels, and the layout each join's inputs must share.

Rules:

- A node that moves values is a ``transpose`` or ``reshape`` (or no layer); its output is
  tokens unless an image op reads it. A ``Slice`` by constants is a ``slice``; its output
  keeps its input's layout.
- An image op (a convolution, a pool, a batch-norm) reading a token tensor reads it
  through a ``reshape`` to its image shape: the spec's shape is then channels-last again.
- A ``Split`` that is no channel split joined again by one ``Concat`` is a fork whose
  branches each open with a ``slice`` of their part (q, k and v cut from one tensor);
  the branches then join as any fork's do (nested blocks: ``merge: matmul`` for
  attention's products). A part nothing reads is left out.
- A join reads its inputs in one layout: tokens for a ``MatMul`` of two computed tensors
  (``merge: matmul``), an image for a ``Concat`` along the channels, else the image when
  any input is one. A branch whose end is in the other layout ends with a ``reshape`` to
  it (it counts nothing); the join's output has that layout.
- A recurrent node on a sequence held as tokens ``[T, 1, I]`` is a ``reshape`` to
  ``[T, I]``, the ``lstm``, ``gru`` or ``rnn`` layer and a ``reshape`` to its ``Y``
  (:meth:`TensorSteps.token_recurrent`).
- A conv or pool on an image whose leading dim holds items (at batch 1) gets a window of
  one on that dim (:meth:`TensorSteps.lift_items`): each item is convolved alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sepconv_cli.interchange import spec_patterns as P
from sepconv_cli.interchange import spec_select as S
from sepconv_cli.interchange import spec_sequence as Q
from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_graph import Graph
from sepconv_cli.interchange.spec_items import Item, Layer


class TensorSteps:
    """The token and crop methods of :class:`~sepconv_cli.interchange.spec_walk.Walker`."""

    graph: Graph
    index: dict[int, int]
    last: set[str]
    full: set[str]

    if TYPE_CHECKING:  # the Walker's and Forks's, beside this class in the Walker

        def walk(
            self, tensor: str, entry: Any, items: list[Item]
        ) -> tuple[list[Item], str, Any]: ...

        def nested(
            self,
            tensor: str,
            readers: list[Any],
            walked: list[tuple[list[Item], str, Any]],
            items: list[Item],
        ) -> str: ...

        def _activation(self, items: list[Item], tensor: str) -> str: ...

    def layout(self, tensor: str) -> T.Layout:
        name = self.graph.tensor(tensor)
        return "full" if name in self.full else "last" if name in self.last else "image"

    def hold(self, tensor: str, layout: T.Layout) -> None:
        """Record ``tensor``'s layout (tokens are in ``last`` too: its patterns apply)."""
        name = self.graph.tensor(tensor)
        self.full.discard(name)
        self.last.discard(name)
        if layout != "image":
            self.last.add(name)
        if layout == "full":
            self.full.add(name)

    def node_layer(
        self, items: list[Item], node: Any, name: str, fields: dict[str, Any], layout: T.Layout
    ) -> str:
        """``fields`` (``type`` among them) as the layer ``name`` of ``node``, appended to
        ``items``; its output held in ``layout``, the activation after it taken: the
        tensor after it."""
        items.append(Layer({"type": fields.pop("type"), "name": name, **fields}, [node]))
        out = str(node.output[0])
        self.hold(out, layout)
        return self._activation(items, out)

    def tensor_step(self, node: Any, tensor: str, name: str, items: list[Item]) -> str | None:
        """A node that moves or crops values as its layer; None when it is neither (or has
        no spec shape: the walk then names it)."""
        g = self.graph
        before = self.layout(tensor)
        out = str(node.output[0])
        after: T.Layout = before
        if node.op_type in T.MOVES and len(node.output) == 1:
            after = "image" if T.reads_as_image(g, out) else "full"
            fields = T.move(g, node, tensor, before, after)
        elif node.op_type == "Slice":
            fields = T.crop(g, node, tensor, before)
        elif node.op_type == "Gather":  # one index: a slice and a reshape (spec_select)
            after = "image" if T.reads_as_image(g, out) else "full"
            parts = S.select(g, node, tensor, before, after)
            if parts is None:
                return None
            for i, part in enumerate(parts):
                fields = {"type": part.pop("type"), "name": f"{name}.{i}" if i else name}
                items.append(Layer({**fields, **part}, [node] if i == 0 else []))
            if not parts:
                items.append(Layer({}, [node]))
            self.hold(out, after)
            return self._activation(items, out) if parts else out
        elif (operation := T.computed_arithmetic(g, node, tensor)) is not None:
            fields = {"type": "elementwise", "operation": operation}
        else:
            return None
        if fields is None:
            return None
        written = bool(fields)  # {}: the spec shape is the same, no layer
        items.append(
            Layer({"type": fields.pop("type"), "name": name, **fields} if written else {}, [node])
        )
        self.hold(out, after)
        return self._activation(items, out) if written else out

    def token_recurrent(self, node: Any, tensor: str, name: str, items: list[Item]) -> str | None:
        """A recurrent node on a sequence ``X`` of ``[T, 1, I]`` the spec holds as tokens
        (a CRNN's LSTMs after a reshape): a ``reshape`` to ``[T, I]``, the layer, and a
        ``reshape`` to ``Y``'s ``[T, directions, 1, H]`` (tokens). Its weights learned (as
        the reader counts them), no sequence length or peepholes, initial states constants
        (no data), ``Y_h`` and ``Y_c`` unread; else None."""
        g = self.graph
        fields = Q.recurrent_fields(g, node)
        if fields is None or len(g.data_inputs(node)) != 1:
            return None
        y = str(node.output[0])
        sequence = T.spec_shape(g, tensor, self.layout(tensor))
        after = T.spec_shape(g, y, "full")
        if any(o and g.readers(o) for o in node.output[1:]) or sequence is None or not after:
            return None
        steps, batch, features = g.shape(node.input[0])
        if batch != 1:
            return None
        if sequence != (steps, features):
            shape = [steps, features]
            items.append(Layer({"type": "reshape", "name": f"{name}.sequence", "shape": shape}))
        items.append(Layer({"type": fields.pop("type"), "name": name, **fields}, [node]))
        items.append(Layer({"type": "reshape", "name": f"{name}.output", "shape": list(after)}))
        self.hold(y, "full")
        return y

    def lift_items(self, node: Any, fields: dict[str, Any]) -> None:
        """A conv or pool on an image whose leading dim holds items (EfficientViT's heads,
        ``(4, C, H, W)`` at batch 1: the spec's ``(4, H, W, C)``) works on each item: its
        window gains a first dim of 1 (padding 0), which counts what the file counts."""
        g = self.graph
        shape = g.shape(node.input[0])
        batch = T.batch_of(g)
        if len(shape) < 3 or shape[0] == batch or batch != 1:
            return
        rank = len(shape) - 2
        for key, fill in (("kernel", 1), ("stride", 1), ("dilation", 1), ("padding", 0)):
            value = fields.get(key)
            if isinstance(value, int):
                fields[key] = [fill, *[value] * rank]
            elif isinstance(value, list) and value:
                fields[key] = [[0, 0] if isinstance(value[0], list) else fill, *value]

    def as_image(self, node: Any, tensor: str, items: list[Item]) -> None:
        """An image op reading a token tensor: a ``reshape`` to its image shape first."""
        g = self.graph
        image = T.spec_shape(g, tensor, "image")
        before = T.spec_shape(g, tensor, self.layout(tensor))
        self.hold(tensor, "image")
        if image is not None and image != before:
            name = P.layer_name(node, self.index[id(node)]) + ".to_image"
            items.append(Layer({"type": "reshape", "name": name, "shape": list(image)}))

    def split_parts(self, node: Any, tensor: str, items: list[Item]) -> str | None:
        """A ``Split`` as a fork whose branches each open with a ``slice`` of their part;
        None when its axis is the batch."""
        g = self.graph
        layout = self.layout(tensor)
        axis = int(P.attrs(node).get("axis", 0))
        dim = T.spec_axis(g, tensor, axis, layout)
        if dim is None:
            return None
        name = P.layer_name(node, self.index[id(node)])
        walked, start = [], 0
        for i, out in enumerate(node.output):
            size = g.shape(out)[axis]
            fields = {"type": "slice", "name": f"{name}.part{i}", "axis": dim}
            layer = Layer({**fields, "start": start, "end": start + size}, [node] if i == 0 else [])
            start += size
            if not out or not g.readers(out):
                continue
            self.hold(out, layout)
            walked.append(self.walk(out, None, [layer]))
        if not walked:
            return None
        if len(walked) == 1:  # one part read: a slice, no fork
            branch, end, join = walked[0]
            items.extend(branch)
            return self.walk(end, join, items)[1] if join is not None else end
        return self.nested(tensor, [node], walked, items)

    def join_layout(self, join: Any, branches: list[list[Item]]) -> None:
        """Every input of ``join`` in the layout the join reads (a ``reshape`` closing a
        branch that ends in the other), and the join's output in it."""
        g = self.graph
        inputs = g.data_inputs(join)
        if len(inputs) != len(branches):
            return
        layouts = [self.layout(t) for t in inputs]
        rank = len(g.shape(join.output[0]))
        want: T.Layout = "image" if "image" in layouts else "full"
        if len(set(layouts)) == 1:
            want = layouts[0]
        if join.op_type in ("MatMul", "Einsum") and want == "image":
            want = "full"
        elif join.op_type == "Concat" and P.attrs(join).get("axis", 1) % rank == 1:
            want = "image"
        for i, (tensor, layout, branch) in enumerate(zip(inputs, layouts, branches, strict=True)):
            if layout == want:
                continue
            before = T.spec_shape(g, tensor, layout)
            after = T.spec_shape(g, tensor, want)
            if after is not None and after != before:
                name = P.layer_name(join, self.index[id(join)]) + f".layout{i}"
                branch.append(Layer({"type": "reshape", "name": name, "shape": list(after)}))
        self.hold(join.output[0], want)
