"""``export-spec``'s walk for graphs that are not a tree of blocks: several inputs, and
joins of tensors from outside one fork (a feature pyramid's upsampled stage added to or
concatenated with an earlier one), written with the spec's ``from`` (issue 21).

Rules:

- A graph is first walked as a tree (:mod:`~sepconv_cli.interchange.spec_walk`). When it
  has several data inputs, or that walk leaves a part not expressed, it is walked again
  here, and this walk's spec is written when it expresses the whole graph; otherwise the
  refusal (or partial spec) is that of the walk whose layers stand for more nodes (the
  tree's on a tie), and always this walk's when the graph has several inputs.
- Nodes are taken in data order, depth first from the inputs (a chain stays together, so
  a depthwise and the 1×1 it alone feeds stay next to each other, one row). Each is written
  by the tree walk's own patterns; a tensor read by several nodes is first tried as the
  tree walk's fork (a residual, branches, a squeeze-and-excite that join again), and when
  its branches do not join again among themselves each reader is taken on its own.
- A layer reads the previous layer's output unless it names another tensor in ``from``:
  an earlier layer's name (layer names are made unique) or an input's.
- A node of two or more data inputs that no fork ended is a join: an ``Add`` or ``Sum`` of
  equal shapes an ``add``, a ``Concat`` along the channels a ``concat``, both with ``from``
  naming their inputs in order, when its inputs are distinct and held in one layout; a
  recurrent node with initial states an ``lstm``, ``gru`` or ``rnn`` reading them by name
  (:mod:`~sepconv_cli.interchange.spec_sequence`).
- Any other such join of one of those, or a ``Mul``, ``Sub`` or ``MatMul`` of two computed
  tensors, is a ``branches`` block (``merge`` of its op) reading one input by ``from``:
  that input's branches are empty (``x + x`` is two); the last layer written, when it
  makes another input that nothing else reads, moves into that input's branch with its
  ``from`` made explicit (unless it is a 1×1 the spec pairs with the depthwise before
  it); any other input's branch is a ``reshape`` to its own shape naming it (no count).
  Each branch then ends in the layout the join reads
  (:meth:`~sepconv_cli.interchange.spec_tensor_walk.TensorSteps.join_layout`). Anything
  else stops the walk, named.
- Either walk's spec keeps a depthwise and the 1×1 after it two rows where the profile
  reader does (:func:`keep_apart`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from sepconv_cli.errors import UsageError
from sepconv_cli.interchange import spec_patterns as P
from sepconv_cli.interchange import spec_sequence as S
from sepconv_cli.interchange import spec_tensors as T
from sepconv_cli.interchange.spec_forks import MERGES
from sepconv_cli.interchange.spec_graph import Graph, NoShape
from sepconv_cli.interchange.spec_items import (
    Item,
    Layer,
    Note,
    Stop,
    covered_nodes,
    node_label,
)
from sepconv_cli.interchange.spec_tables import concat_axis
from sepconv_cli.interchange.spec_walk import Walker, no_shape

JOINS = {"Add": "add", "Sum": "add", "Concat": "concat"}


def walk_graph(graph: Graph) -> list[Item]:
    """The items of ``graph``'s spec (module rules)."""
    several = len(graph.input_names) > 1
    tree = Walker(graph)
    items = [] if several else tree.run()
    if not several and not any(isinstance(i, Note) for i in _flat(items)):
        return keep_apart(items, tree.apart, graph)
    walker = DagWalker(graph)
    dag = walker.run()
    if several or not any(isinstance(i, Note) for i in _flat(dag)):
        return keep_apart(dag, walker.apart, graph)
    return dag if _written(dag) > _written(items) else items


def _written(items: list[Item]) -> int:
    """How many nodes the layers of ``items`` stand for (the walk that got further names
    the node it stops at)."""
    return sum(len(i.nodes) for i in _flat(items) if isinstance(i, Layer) and i.fields)


def keep_apart(items: list[Item], apart: set[int], graph: Graph) -> list[Item]:
    """``items``, where a depthwise and the 1×1 after it that the profile reader does not
    read as one row are kept two: the 1×1 names the depthwise in ``from``, which the spec's
    one-row rule honours. The reader pairs a depthwise with the 1×1 whose row comes right
    after its own in the graph's node order: not when a node making a row of its own stands
    between them (a branch the file interleaves with another, as TFLite files do), nor
    when the depthwise's activation is written out as such nodes
    (:meth:`~sepconv_cli.interchange.spec_forks.Forks.attach`)."""
    layers = [i for i in items if isinstance(i, Layer) and i.fields]
    for first, then in pairwise(layers):
        if (
            first.fields.get("type") in ("depthwise", "conv")
            and then.fields.get("type") in ("pointwise", "conv")
            and "from" not in then.fields
            and (
                id(first) in apart
                or _between(graph, first, then, items)
                or _read_apart(graph, first)
            )
        ):
            then.fields = _with_from(then.fields, first.fields["name"])
    for layer in layers:
        for nested in (layer.layers, layer.shortcut, *(layer.branches or [])):
            keep_apart(nested or [], apart, graph)
    return items


def _read_apart(graph: Graph, layer: Layer) -> bool:
    """Whether a depthwise's bias is an ``Add`` node of its own whose output an
    ``Identity`` reads (PaddlePaddle's exports): the reader pairs that depthwise with no
    1×1 (the Identity's output has no row of its own to come from)."""
    if layer.fields.get("type") != "depthwise":
        return False
    made = {str(n.output[0]) for n in layer.nodes if n.op_type == "Add"}
    return any(n.op_type == "Identity" and n.input[0] in made for n in graph.nodes)


def _between(graph: Graph, first: Layer, then: Layer, items: list[Item]) -> bool:
    """Whether a node of a row of its own stands between ``first``'s conv and ``then``'s in
    the node order: not one of the two layers' nodes, nor one the walk wrote as no layer
    between them (a layout ``Transpose``, a flatten), nor a static or passed-through one."""
    convs = [
        next((n for n in layer.nodes if n.op_type in ("Conv", "MatMul", "Gemm")), None)
        for layer in (first, then)
    ]
    if convs[0] is None or convs[1] is None:
        return False
    order = graph.order()
    start, end = order[id(convs[0])], order[id(convs[1])]
    places = [next(k for k, i in enumerate(items) if i is layer) for layer in (first, then)]
    moved = [i for i in items[places[0] : places[1]] if isinstance(i, Layer) and not i.fields]
    ours = {id(n) for layer in (first, then, *moved) for n in layer.nodes}
    return any(id(n) not in ours and graph.is_layer_node(n) for n in graph.nodes[start + 1 : end])


def input_line(graph: Graph, spatial: list[int]) -> str:
    """``input: [...]`` (``spatial``: the first input's spec shape), or ``inputs: {...}``
    for several, each ``[N, C, *spatial]`` written ``[*spatial, C]``; an input of fewer
    dims is an error naming it."""
    from sepconv_cli.interchange.spec_writer import flow, scalar

    if len(graph.input_names) == 1:
        return f"input: {flow(spatial)}"
    shapes = [spatial]
    for name in graph.input_names[1:]:
        shape = graph.shape(name)
        if len(shape) < 3:
            raise UsageError(
                f"{graph.path}: the input {name!r} has the shape {shape}: the spec's inputs "
                "are [N, C, *spatial] tensors (at least 3 dims)"
            )
        shapes.append([*shape[2:], shape[1]])
    listed = ", ".join(
        f"{scalar(n)}: {flow(s)}" for n, s in zip(graph.input_names, shapes, strict=True)
    )
    return f"inputs: {{{listed}}}"


def _flat(items: list[Item]) -> list[Item]:
    out: list[Item] = []
    for item in items:
        out.append(item)
        if isinstance(item, Layer):
            for nested in (item.layers, item.shortcut, *(item.branches or [])):
                out.extend(_flat(nested or []))
    return out


class DagWalker(Walker):
    """Walks a graph in data order, one list of layers with ``from`` (module rules)."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        g = graph
        self.names: dict[str, str] = {g.tensor(n): n for n in g.input_names}
        if len(g.input_names) == 1:  # the spec's one `input:` is named input
            self.names = {g.tensor(g.input_name): "input"}
        self.used: set[str] = set(self.names.values())
        self.previous = g.tensor(g.input_names[0])  # the tensor a layer reads unnamed
        self.covered: set[int] = set()
        self.tried: set[str] = set()  # forks the tree walk could not close
        self.reads: dict[int, str] = {}  # a layer written alone: the name it reads (_block)

    def run(self) -> list[Item]:
        g = self.graph
        items: list[Item] = []
        if g.channels_last_input:
            self.last.add(g.tensor(g.input_name))
        stack = [r for n in reversed(g.input_names) for r in reversed(g.readers(n))]
        try:
            while stack:
                node = stack.pop()
                inputs = g.data_inputs(node)
                if id(node) in self.covered or not all(t in self.names for t in inputs):
                    continue
                if node.op_type == "Split" and len(inputs) == 1:
                    outs = self.split_slices(node, inputs[0], items)
                else:
                    outs = [self.place(node, inputs, items)]
                for out in reversed(outs):
                    stack.extend(reversed(g.readers(out)))
        except NoShape as missing:  # outside a node's step: at the node that makes it
            items.append(no_shape(missing, None))
        except Stop as stop:
            items.append(stop.note)
        rest = [n for n in g.nodes if g.is_layer_node(n) and id(n) not in self.covered]
        if rest and not any(isinstance(i, Note) for i in items):
            items.append(
                Note(
                    "rest",
                    f"not written: {len(rest)} node(s) not on the walk from the inputs: "
                    + ", ".join(node_label(n) for n in rest[:20]),
                    rest,
                    "not on the walk from the inputs, not written",
                )
            )
        return items

    def place(self, node: Any, inputs: list[str], items: list[Item]) -> str:
        """Write ``node`` (and what its pattern takes) reading ``inputs``; the tensor after
        it."""
        g = self.graph
        new: list[Item] = []
        recurrent = S.recurrent(g, node)
        if len(inputs) > 1 and recurrent is not None:
            fields, nodes, reads, out = recurrent
            self._check_reads(node, reads)
            name = P.layer_name(node, self.index[id(node)])
            new.append(Layer({"type": fields.pop("type"), "name": name, **fields}, nodes))
            return self._keep(items, new, reads, out)
        if len(inputs) > 1:
            return self._join(node, inputs, items)
        source = inputs[0]
        readers = g.readers(source)
        if len(readers) > 1 and source not in self.tried:
            try:
                out = self.fork(source, readers, new)
                return self._keep(items, new, [source], out)
            except (Stop, UsageError):  # a fork the tree walk cannot close: reader by reader
                self.tried.add(source)
                new = []
        if source == self.previous:  # the chain goes on: an activation may join its layer
            before = len(items)
            out = self.step(node, source, items)
            new = items[before:]
            del items[before:]
            self.covered.update(id(n) for n in covered_nodes(items[-1:]))
        else:
            out = self.step(node, source, new)
        if (  # a layer that keeps a channels-last tensor's shape keeps it channels-last
            g.tensor(source) in self.last
            and P.channel_transpose(g, node) is None
            and g.shapes.get(g.tensor(out)) == g.shape(source)
        ):
            self.hold(out, self.layout(source))  # tokens stay tokens
        return self._keep(items, new, [source], out)

    def split_slices(self, node: Any, source: str, items: list[Item]) -> list[str]:
        """A ``Split`` whose parts do not meet again as the tree walk's branches: one
        ``slice`` layer per part read, each from the split's input."""
        g = self.graph
        layout = self.layout(source)
        axis = int(P.attrs(node).get("axis", 0))
        dim = T.spec_axis(g, source, axis, layout)
        if dim is None:
            return [self.place(node, [source], items)]
        name = P.layer_name(node, self.index[id(node)])
        outs: list[str] = []
        start = 0
        for i, out in enumerate(node.output):
            size = g.shape(out)[axis]
            fields = {"type": "slice", "name": f"{name}.part{i}", "axis": dim}
            layer = Layer({**fields, "start": start, "end": start + size}, [node])
            start += size
            if out and g.readers(out):
                self.hold(out, layout)
                self.previous = "" if outs else self.previous
                outs.append(self._keep(items, [layer], [source], out))
        return outs

    def _join(self, node: Any, inputs: list[str], items: list[Item]) -> str:
        g = self.graph
        merge = JOINS.get(node.op_type)
        axis = None
        if merge == "concat":  # along the channels, or the dim `axis` names (spec_tables.py)
            axis = concat_axis(g, node, inputs, [self.layout(t) for t in inputs])
            merge = None if axis is None else merge
        if merge == "add" and len({g.shape(t) for t in inputs}) != 1:
            merge = None
        if merge is None and node.op_type in ("Mul", "Sub", "MatMul") and len(inputs) == 2:
            merge = MERGES[node.op_type]
        if merge is None or len([t for t in node.input if t]) != len(inputs):
            raise Stop(
                Note(
                    "dag",
                    f"{node_label(node)}: a {node.op_type} of computed tensors the spec "
                    "has no layer for: the spec stops here",
                    [node],
                    f"a {node.op_type} of computed tensors the spec has no layer for",
                )
            )
        tensors = [g.tensor(t) for t in inputs]
        layouts = {self.layout(t) for t in tensors}  # else the block's branches reshape
        if merge in ("add", "concat") and len(set(tensors)) == len(tensors) and len(layouts) == 1:
            name = P.layer_name(node, self.index[id(node)])
            layer = Layer({"type": merge, "name": name}, [node])
            if axis is not None and axis >= 0:
                layer.fields["axis"] = axis
            new: list[Item] = [layer]
            out = self._activation(new, str(node.output[0]))
            return self._keep(items, new, list(inputs), out, every=True)
        return self._block(node, merge, tensors, items)

    def _block(self, node: Any, merge: str, tensors: list[str], items: list[Item]) -> str:
        """A join the spec has no flat layer for (a ``Mul``, ``Sub`` or ``MatMul`` of
        computed tensors, a tensor joined with itself) as a ``branches`` block reading one
        input by ``from``: its branch is empty; the last layer written, when it makes
        another input that nothing else reads, is that input's branch (its ``from`` made
        explicit); any other input's branch is a ``reshape`` to its own shape (no count)
        naming it."""
        g = self.graph
        name = P.layer_name(node, self.index[id(node)])
        moved: Layer | None = None
        last = items[-1] if items else None
        if isinstance(last, Layer) and id(last) in self.reads and self._movable(last, items):
            made = [t for t in tensors if self.names.get(t) == last.fields["name"]]
            readers = g.readers(made[0]) if made else []
            if made and made[0] not in g.outputs and all(r is node for r in readers):
                moved = last
                source = next((t for t in tensors if t != made[0]), made[0])
        if moved is None:
            source = tensors[0]
        branches: list[list[Item]] = []
        for i, tensor in enumerate(tensors):
            if tensor == source:
                branches.append([])
            elif moved is not None and self.names.get(tensor) == moved.fields["name"]:
                items.pop()
                moved.fields = _with_from(moved.fields, self.reads.pop(id(moved)))
                branches.append([moved])
            else:
                shape = T.spec_shape(g, tensor, self.layout(tensor))
                fields: dict[str, Any] = {"type": "reshape", "name": f"{name}.input{i}"}
                fields.update({"from": self.names[tensor], "shape": list(shape or ())})
                branches.append([Layer(fields)])
        self.join_layout(node, branches)
        block = Layer({"type": "branches", "name": name, "merge": merge}, [node], branches=branches)
        new: list[Item] = [block]
        out = self._activation(new, str(node.output[0]))
        return self._keep(items, new, [source], out)

    def _movable(self, layer: Layer, items: list[Item]) -> bool:
        """Whether ``layer`` (the last written) may move into a branch: not a 1×1 that the
        spec pairs with the depthwise before it (moved, it would count apart)."""
        before = [i for i in items[:-1] if isinstance(i, Layer) and i.fields]
        return not (
            "from" not in layer.fields
            and layer.fields.get("type") in ("pointwise", "conv")
            and before
            and before[-1].fields.get("type") in ("depthwise", "conv")
        )

    def _check_reads(self, node: Any, reads: list[str]) -> None:
        """Each tensor a recurrent node reads through its layout Transposes is written."""
        missing = [t for t in reads if self.graph.tensor(t) not in self.names]
        if missing:
            why = f"it reads {missing[0]!r}, which no layer or input written before it makes"
            raise Stop(Note("dag", f"{node_label(node)}: {why}", [node], why))

    def _keep(
        self,
        items: list[Item],
        new: list[Item],
        reads: list[str],
        out: str,
        *,
        every: bool = False,
    ) -> str:
        """Add ``new`` to ``items``: its first layer names what it reads when that is not
        the previous layer's output (``every``: always, a join), its last layer's name
        becomes ``out``'s."""
        g = self.graph
        layers = [i for i in new if isinstance(i, Layer) and i.fields]
        for note in (i for i in _flat(new) if isinstance(i, Note)):
            raise Stop(note)
        self.covered.update(id(n) for n in covered_nodes(new))
        out = g.tensor(out)
        if not layers:  # layout only (a transpose, a flatten): the same tensor
            source = g.tensor(reads[0]) if reads else self.previous
            self.names[out] = self.names[source]
            items.extend(new)
            self.previous = out if source == self.previous else self.previous
            return out
        first = layers[0]
        sources = [self.names[g.tensor(t)] for t in reads]
        if len(new) == 1 and len(sources) == 1:  # what it reads, should it move (_block)
            self.reads[id(first)] = sources[0]
        if every or len(sources) > 1:
            first.fields = _with_from(first.fields, sources)
        elif sources and g.tensor(reads[0]) != self.previous:
            first.fields = _with_from(first.fields, sources[0])
        for layer in layers:
            layer.fields["name"] = self._unique(str(layer.fields.get("name", "layer")))
        items.extend(new)
        self.names[out] = str(layers[-1].fields["name"])
        self.previous = out
        return out

    def _unique(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3`` … when an earlier layer or input has it."""
        found, i = name, 1
        while found in self.used:
            i += 1
            found = f"{name}_{i}"
        self.used.add(found)
        return found


def _with_from(fields: dict[str, Any], sources: Any) -> dict[str, Any]:
    """``fields`` with ``from`` after the type and name."""
    out = {k: v for k, v in fields.items() if k in ("type", "name")}
    out["from"] = sources
    out.update((k, v) for k, v in fields.items() if k not in out)
    return out
