"""The items of ``export-spec``'s walk: spec layers, notes of what the spec cannot
express, and the helpers the walk's modules share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Note:
    """A part of the graph the spec cannot express: a YAML comment, and a stderr line per
    ``kind``."""

    kind: str
    text: str
    nodes: list[Any] = field(default_factory=list)
    why: str = ""  # the reason alone, for the one-line error naming the first node

    def first(self) -> str:
        """``'node' (Op): why``: the first node of the note and why it is not written."""
        if not self.nodes:
            return self.text
        node = self.nodes[0]
        return f"{node.name or node.output[0]!r} ({node.op_type}): {self.why or self.text}"


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


def last_layer(items: list[Item]) -> Layer | None:
    """The last real layer written in this list (not a note or a skipped flatten)."""
    for item in reversed(items):
        if isinstance(item, Layer) and item.fields:
            return item
        if isinstance(item, Note):
            return None
    return None


def layers_of(items: list[Item]) -> list[Layer]:
    return [i for i in items if isinstance(i, Layer) and i.fields]


def strip(items: list[Item], prefix: str) -> list[Item]:
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
