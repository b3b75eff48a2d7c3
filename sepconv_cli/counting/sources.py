"""What a layer reads when its ``from`` names it, and the rows of the layers that read
several tensors (joins, recurrent layers with their states): the network builder's part of
issue 21's several inputs and feature pyramids (:mod:`sepconv_cli.spec.sources` states the
keys).

Rules
-----
* Every layer's output is known by its row name (``prefix`` + its name, the name of its
  last instance when it repeats) from the moment it is built, and every model input by its
  name. A ``from`` name is looked up in the layer's own list first, then in each enclosing
  list out to the model's (a block's layers see the block's neighbours), then among the
  inputs: a row name from outside a block (``block.branch0.conv``) is found from the
  model's list. A name not found is an error at the layer's ``from``, listing the names it
  could have meant; since only what was built before a layer is known, ``from`` cannot
  make a cycle.
* A layer with one name in ``from`` reads that tensor instead of the previous output.
* A ``concat`` joins its tensors along the channels (equal spatial sizes: the checks of a
  branches block's concat), an ``add`` adds them (equal shapes): one row each, of the type
  ``concat`` or ``add``, counted as a branches block's merge row.
* A recurrent layer reads its sequence first; a further name is its initial hidden state
  (and an LSTM's cell state), which must hold ``directions · hidden`` values per item. The
  states change no count; they are read (liveness, export).
* A depthwise layer is not paired with the pointwise after it (counting/pairing.py) when
  the pointwise reads another tensor or anything else reads the depthwise's output by
  name: the depthwise does not then feed the 1×1 alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from math import prod

from sepconv_cli.counting.lowering import Forms, lower
from sepconv_cli.counting.ops import Add, Concat
from sepconv_cli.counting.shapes import ShapeError
from sepconv_cli.counting.tables import axis_concat, concat_axis
from sepconv_cli.counting.widths import Width
from sepconv_cli.spec.layers import LayerSpec, ModelSpec, SpecError
from sepconv_cli.spec.sources import JOIN_TYPES, RECURRENT_TYPES
from sepconv_cli.units import shape_text

Tensor = tuple[int, tuple[int, ...]]  # a tensor's number (liveness) and its shape


def every_layer(layers: Sequence[LayerSpec]) -> Iterator[LayerSpec]:
    """Every layer of a list, nested blocks included."""
    for layer in layers:
        yield layer
        yield from every_layer(layer.layers)
        yield from every_layer(layer.shortcut)
        for branch in layer.branches:
            yield from every_layer(branch)


class Sources:
    """The network builder's named tensors (module rules); ``_Builder`` mixes it in."""

    width: Width
    current: int
    sizes: list[int]

    def emit(
        self,
        name: str,
        layer: LayerSpec,
        shape: tuple[int, ...],
        forms: Forms,
        kind: str | None = None,
        reads: tuple[int, ...] | None = None,
    ) -> None:
        raise NotImplementedError

    def start_sources(self, spec: ModelSpec, input_shape: tuple[int, ...]) -> None:
        """Name the model's inputs (the first is tensor 0, the one the first layer reads)
        and note every name a ``from`` reads (for the pairing rule)."""
        self.named: dict[str, Tensor] = {}
        self.scopes: list[str] = []
        self.inputs: list[int] = [0]
        self.referenced = {n for layer in every_layer(spec.layers) for n in layer.sources}
        if not spec.inputs:  # one input: its name is `input`
            self.named["input"] = (0, input_shape)
        for i, (name, shape) in enumerate(spec.inputs):
            if i == 0:
                self.named[name] = (0, input_shape)
                continue
            self.sizes.append(prod(shape))
            self.inputs.append(len(self.sizes) - 1)
            self.named[name] = (len(self.sizes) - 1, shape)

    def lookup(self, layer: LayerSpec, ref: str) -> Tensor:
        """The tensor ``ref`` names for ``layer`` (module rules), or an error at its
        ``from``."""
        for scope in reversed(self.scopes):
            found = self.named.get(scope + ref)
            if found is not None:
                return found
        from sepconv_cli.spec.layers import did_you_mean

        hint = did_you_mean(ref[:60], self.named) if self.named else ""
        known = ", ".join(sorted(self.named)[:8]) or "none yet"
        raise SpecError(
            f"{layer.locate('from')}: {ref!r} names no earlier layer or input{hint} (a "
            f"layer reads only what was made before it; known here: {known})"
        )

    def read_from(self, layer: LayerSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape ``layer`` reads: its first ``from`` tensor's (which becomes the
        current tensor), or ``shape`` when it names none. A join reads all of its own."""
        if not layer.sources or layer.type in JOIN_TYPES:
            return shape
        tensor, found = self.lookup(layer, layer.sources[0])
        self.current = tensor
        return found

    def made(self, base: str, shape: tuple[int, ...]) -> None:
        """``base`` (a row name) is the current tensor, of ``shape``."""
        self.named[base] = (self.current, shape)

    def unpaired(self, layers: Sequence[LayerSpec], position: int, prefix: str) -> bool:
        """The depthwise at ``position`` does not feed the next layer alone (module
        rules)."""
        layer = layers[position]
        following = layers[position + 1] if position + 1 < len(layers) else None
        names = {layer.name, prefix + (layer.name or f"{layer.type}_{position}")}
        return bool(following is not None and following.sources) or bool(names & self.referenced)

    def reads_several(self, layer: LayerSpec, shape: tuple[int, ...], name: str) -> tuple[int, ...]:
        """The row of a join, or of a recurrent layer read with its states."""
        if layer.repeat > 1:
            raise SpecError(
                f"{layer.locate('repeat')}: a layer that reads several tensors (from) cannot repeat"
            )
        found = [self.lookup(layer, ref) for ref in layer.sources]
        if layer.type in RECURRENT_TYPES:
            forms = self.lowered(layer, found[0][1])
            hidden = forms.out_shape[-1]  # directions · hidden
            for ref, (_, state) in zip(layer.sources[1:], found[1:], strict=False):
                if prod(state) != hidden:
                    raise SpecError(
                        f"{layer.locate('from')}: the state {ref!r} holds {shape_text(state)} "
                        f"= {prod(state)} values per item; this {layer.type} needs "
                        f"directions · hidden = {hidden}"
                    )
            reads = tuple(t for t, _ in found)
            self.emit(name, layer, found[0][1], forms, reads=reads)
            return forms.out_shape
        shapes = [s for _, s in found]
        if layer.type == "add":
            if len(set(shapes)) != 1:
                listed = ", ".join(
                    f"{r} {shape_text(s)}" for r, s in zip(layer.sources, shapes, strict=True)
                )
                raise SpecError(f"{layer.locate('from')}: add needs equal shapes, got {listed}")
            adds = tuple(Add(shapes[0]) for _ in shapes[1:])
            forms = Forms("none", adds, adds, adds)
        elif layer.axis:  # along a dim it names, the channels or another (tables.py)
            forms = self.axis_join(layer, shapes)
        else:
            if any(len(s) < 2 for s in shapes):
                raise SpecError(
                    f"{layer.locate('from')}: concat joins spatial tensors along channels; "
                    f"got {', '.join(shape_text(s) for s in shapes)}"
                )
            try:
                concat = (Concat(tuple(shapes)),)
            except ShapeError as exc:
                raise SpecError(f"{layer.locate('from')}: {exc}") from None
            forms = Forms("none", concat, concat, concat)
        self.emit(name, layer, shapes[0], forms, layer.type, tuple(t for t, _ in found))
        return forms.out_shape

    def axis_join(self, layer: LayerSpec, shapes: list[tuple[int, ...]]) -> Forms:
        """A concat with an ``axis``: along the channels the usual one, along another dim
        data movement (counting/tables.py)."""
        try:
            axis = concat_axis(layer, shapes)
            op = Concat(tuple(shapes)) if axis is None else axis_concat(shapes, axis)
        except ShapeError as exc:
            raise SpecError(f"{layer.locate(exc.field)}: {exc}") from None
        return Forms("none", (op,), (op,), (op,))

    def lowered(self, layer: LayerSpec, shape: tuple[int, ...]) -> Forms:
        try:
            return lower(layer, shape, self.width)
        except ShapeError as exc:
            raise SpecError(f"{layer.locate(exc.field)}: {exc}") from None
